"""`local up|down|status`: servers that outlive the command, idempotent up, a down that stops what up started."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.settings import Settings
from workbench.local import processes
from workbench.local import servers as local_stack_module
from workbench.local.servers import LocalStack, LocalStackError

pytestmark = pytest.mark.stack

STATUS_KEYS = {
    "aws_endpoint_url", "region", "bucket", "topic_arn", "queues", "dead_letter_queues", "snowflake", "sqlserver_url",
}  # fmt: skip


def _local(local_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "AWS_"))}
    env["PIPELINE_LOCAL_DIR"] = str(local_dir)
    return subprocess.run(
        [sys.executable, "-m", "workbench.local", *args], env=env, capture_output=True, text=True, timeout=120
    )


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_status_json_says_how_to_reach_the_stack(local_stack: LocalStack) -> None:
    result = _local(Path(local_stack.local_dir), "status", "--json")

    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert set(status) >= STATUS_KEYS
    assert status["aws_endpoint_url"] == local_stack.aws_endpoint_url
    assert set(status["queues"]) == set(status["dead_letter_queues"]) == {
        "yahoo_finance", "coinmarketcap", "openexchangerates",
    }  # fmt: skip
    assert status["snowflake"] == {
        "host": "127.0.0.1",
        "port": local_stack.snowflake.port,
        "database": "MARKET_DATA",
        "schema": "PUBLIC",
        "table": "BARS_1M",
        "protocol": "http",
        "db_path": str(Path(local_stack.local_dir) / "snowflake"),
    }
    assert status["sqlserver_url"] == f"sqlite:///{Path(local_stack.local_dir) / 'sqlserver.db'}"


def test_up_twice_is_idempotent_and_down_stops_the_servers(tmp_path: Path) -> None:
    # GIVEN a stack started by one command, which has exited since
    first = _local(tmp_path, "up", "--json")
    assert first.returncode == 0, first.stderr
    started = json.loads(first.stdout)
    pids = [p["pid"] for p in started["processes"].values()]
    try:
        assert started["already_running"] is False
        assert all(_alive(pid) for pid in pids)

        # WHEN `up` runs again, THEN it reports the same running servers and starts nothing
        second = _local(tmp_path, "up", "--json")
        assert second.returncode == 0, second.stderr
        again = json.loads(second.stdout)
        assert again["already_running"] is True
        assert again["processes"] == started["processes"]
        assert again["topic_arn"] == started["topic_arn"]

        # WHEN `down` runs, THEN the servers are gone, the state too, and `status` says so in one line
        stopped = _local(tmp_path, "down")
        assert stopped.returncode == 0, stopped.stderr
        assert not any(_alive(pid) for pid in pids)
        assert not (tmp_path / "stack.json").exists()
        status = _local(tmp_path, "status", "--json")
        assert status.returncode == 1
        assert status.stdout == ""
        assert status.stderr.strip().splitlines() == [
            "error: the local stack is not running: start it with `python -m pipeline local up`"
        ]
    finally:
        local_stack_module.down(Settings(local_dir=tmp_path), keep=False)


def test_up_on_a_port_in_use_fails_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _local(tmp_path, "up", "--aws-port", str(port))

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is in use: stop what uses it or choose another port"
    ]
    assert not (tmp_path / "stack.json").exists()


def test_a_server_that_does_not_come_up_in_time_names_its_log_and_nothing_is_left_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(local_dir=tmp_path)
    started: list[processes.ServerProcess] = []
    real_start = processes.start

    def recording_start(*args: object) -> processes.ServerProcess:
        started.append(real_start(*args))  # type: ignore[arg-type]
        return started[-1]

    monkeypatch.setattr(processes, "start", recording_start)

    with pytest.raises(LocalStackError, match=r"moto server did not answer .* within 0 s: see .*moto\.log$") as error:
        local_stack_module.up(settings, aws_port=0, snowflake_port=0, timeout=0)

    assert str(tmp_path / "logs" / "moto.log") in str(error.value)
    assert [p.name for p in started] == ["moto", "fakesnow"]
    assert not any(_alive(p.pid) for p in started)
    assert local_stack_module.recorded(settings) is None


def test_the_stack_environment_points_the_project_settings_and_clients_at_it(
    local_stack: LocalStack, local_env: Settings
) -> None:
    from pipeline import aws

    # GIVEN the environment of `LocalStack.env()`, WHEN the project builds its settings and clients as usual
    settings = Settings()

    # THEN they reach the local stack's queues, bucket and topic, in simulated mode
    assert settings.mode == "simulated"
    assert (settings.bucket, settings.topic_arn) == (local_stack.bucket, local_stack.topic_arn)
    assert settings.snowflake.port == local_stack.snowflake.port
    queues = aws.client("sqs", settings).list_queues()["QueueUrls"]
    assert set(local_stack.queues.values()) <= set(queues)
    assert aws.client("s3", settings).head_bucket(Bucket=settings.bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    topic = aws.client("sns", settings).get_topic_attributes(TopicArn=settings.topic_arn)["Attributes"]
    assert topic["FifoTopic"] == "true"


def test_down_leaves_a_recycled_pid_alone(tmp_path: Path) -> None:
    # GIVEN a process that is not a server `up` started, now holding a pid the state file recorded
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "4567"])
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "moto.server", "4567"])
    try:
        recorded = processes.ServerProcess("moto", stranger.pid, 4567, str(tmp_path / "moto.log"), "moto.server")
        server = processes.ServerProcess("moto", ours.pid, 4567, str(tmp_path / "moto.log"), "moto.server")

        # (Popen returns while exec may still be setting up the child's command line: wait until it shows)
        deadline = time.monotonic() + 5
        while not server.running() and time.monotonic() < deadline:
            time.sleep(0.02)

        # WHEN `down` stops what the state file names, THEN only a process that still looks like the server goes
        assert not recorded.running()
        processes.stop(recorded, timeout=0.2)
        assert stranger.poll() is None
        assert server.running()
        processes.stop(server, timeout=2)
        assert ours.wait(timeout=5) is not None
    finally:
        for process in (stranger, ours):
            process.kill()
            process.wait()


def _kill(pid: int) -> None:
    os.kill(pid, 9)
    for _ in range(200):  # the detached server is reaped by init; wait until the pid is gone or a zombie
        if not _alive(pid):
            return
        time.sleep(0.05)


def test_up_after_fakesnow_died_starts_only_fakesnow_and_moto_keeps_its_objects_and_messages(tmp_path: Path) -> None:
    import boto3

    from workbench.cloudformation.topology import LOCAL_CREDENTIALS

    # GIVEN a stack whose bucket holds an object and whose queue holds a message, and a fakesnow that died
    started = json.loads(_local(tmp_path, "up", "--json").stdout)
    try:
        session = boto3.session.Session(LOCAL_CREDENTIALS, LOCAL_CREDENTIALS, region_name=started["region"])
        s3 = session.client("s3", endpoint_url=started["aws_endpoint_url"])
        sqs = session.client("sqs", endpoint_url=started["aws_endpoint_url"])
        s3.put_object(Bucket=started["bucket"], Key="raw/coinmarketcap/2026/11/02/1445.csv", Body=b"rank\n1\n")
        queue = started["queues"]["coinmarketcap"]
        sqs.send_message(QueueUrl=queue, MessageBody="{}", MessageGroupId="g", MessageDeduplicationId="kept")
        _kill(started["processes"]["fakesnow"]["pid"])

        # THEN status names the server that died and what to type
        status = _local(tmp_path, "status")
        assert status.returncode == 1
        [line] = status.stderr.strip().splitlines()
        assert line.startswith("error: the fakesnow server (port ") and "`python -m pipeline local up`" in line

        # WHEN `local up` runs THEN only fakesnow is started again, on its port, and moto kept everything
        up = _local(tmp_path, "up", "--json")
        assert up.returncode == 0, up.stderr
        again = json.loads(up.stdout)
        assert again["restarted"] == ["fakesnow"] and again["already_running"] is False
        assert again["processes"]["moto"] == started["processes"]["moto"]
        assert again["processes"]["fakesnow"]["port"] == started["processes"]["fakesnow"]["port"]
        assert again["queues"] == started["queues"]
        body = s3.get_object(Bucket=started["bucket"], Key="raw/coinmarketcap/2026/11/02/1445.csv")["Body"].read()
        assert body == b"rank\n1\n"
        assert len(sqs.receive_message(QueueUrl=queue).get("Messages", [])) == 1
        assert _local(tmp_path, "status").returncode == 0
    finally:
        local_stack_module.down(Settings(local_dir=tmp_path), keep=False)


def test_status_after_moto_died_says_its_state_is_gone_and_what_to_type(tmp_path: Path) -> None:
    started = json.loads(_local(tmp_path, "up", "--json").stdout)
    try:
        _kill(started["processes"]["moto"]["pid"])

        status = _local(tmp_path, "status")

        assert status.returncode == 1 and "Traceback" not in status.stderr
        assert status.stderr.strip().splitlines() == [
            f"error: the moto server (port {started['processes']['moto']['port']}) is not answering, and the bucket, "
            "queues and messages it held in memory are gone (the processed Parquet objects with them): "
            "`python -m pipeline local up` starts a new, empty one (the Snowflake and SQL Server sinks keep their rows)"
        ]
    finally:
        local_stack_module.down(Settings(local_dir=tmp_path), keep=False)


def _pipeline(local_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "AWS_"))}
    env["PIPELINE_LOCAL_DIR"] = str(local_dir)
    env["PIPELINE_UNIVERSE_LIMIT"] = "5"
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _objects(s3, bucket: str) -> dict[str, tuple[bytes, str]]:
    found: dict[str, tuple[bytes, str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=item["Key"])
            found[item["Key"]] = (got["Body"].read(), got["ETag"])
    return found


def _bodies(sqs, url: str) -> list[tuple[str, str | None]]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=0)
    return [(m["Body"], m["Attributes"].get("MessageGroupId")) for m in got.get("Messages", [])]


def test_down_then_up_keeps_the_bucket_the_queues_and_the_dead_letters(tmp_path: Path) -> None:
    import boto3

    from workbench.cloudformation.topology import LOCAL_CREDENTIALS

    # GIVEN a stack that ran two minutes of the pipeline, with a message waiting in a queue and one dead-lettered
    started = json.loads(_local(tmp_path, "up", "--json").stdout)
    try:
        ran = _pipeline(tmp_path, "run", "--minutes", "2", "--json")
        assert ran.returncode == 0, ran.stderr
        session = boto3.session.Session(LOCAL_CREDENTIALS, LOCAL_CREDENTIALS, region_name=started["region"])
        s3 = session.client("s3", endpoint_url=started["aws_endpoint_url"])
        sqs = session.client("sqs", endpoint_url=started["aws_endpoint_url"])
        queue, dead = started["queues"]["openexchangerates"], started["dead_letter_queues"]["coinmarketcap"]
        for n in (1, 2):
            sqs.send_message(QueueUrl=queue, MessageBody=f"waiting {n}", MessageGroupId="openexchangerates",
                             MessageDeduplicationId=f"w{n}")  # fmt: skip
        sqs.send_message(QueueUrl=dead, MessageBody="dead", MessageGroupId="coinmarketcap", MessageDeduplicationId="d")
        before = _objects(s3, started["bucket"])
        assert any(k.startswith("raw/") for k in before) and any(k.startswith("state/") for k in before)

        # WHEN the stack is stopped and started again
        down = _local(tmp_path, "down")
        assert down.returncode == 0, down.stderr
        assert f"kept {len(before)} object(s) and 3 queued message(s)" in down.stdout
        up = _local(tmp_path, "up", "--json")
        assert up.returncode == 0, up.stderr
        again = json.loads(up.stdout)

        # THEN every object is back byte for byte (same ETag: event deduplication ids are made of it), the messages
        # are back in their queues in order, and verify still finds every raw row in its sink
        assert again["restored"] == {"objects": len(before), "messages": 3}
        s3 = session.client("s3", endpoint_url=again["aws_endpoint_url"])
        sqs = session.client("sqs", endpoint_url=again["aws_endpoint_url"])
        assert _objects(s3, again["bucket"]) == before
        assert _bodies(sqs, again["queues"]["openexchangerates"]) == [
            ("waiting 1", "openexchangerates"), ("waiting 2", "openexchangerates"),
        ]  # fmt: skip
        assert _bodies(sqs, again["dead_letter_queues"]["coinmarketcap"]) == [("dead", "coinmarketcap")]
        verified = _pipeline(tmp_path, "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr

        # AND a second up (nothing stopped in between) puts nothing back twice
        assert json.loads(_local(tmp_path, "up", "--json").stdout)["already_running"] is True
        _local(tmp_path, "down", "--discard")
        assert json.loads(_local(tmp_path, "up", "--json").stdout)["restored"] is None
    finally:
        local_stack_module.down(Settings(local_dir=tmp_path), keep=False)


def test_down_discard_starts_the_next_up_empty_sinks_included_so_a_rerun_of_the_window_verifies(
    tmp_path: Path,
) -> None:
    # GIVEN a stack whose sinks hold two minutes of rows (Snowflake bars, SQL Server rates)
    window = ("--from", "2026-11-02T14:45Z", "--to", "2026-11-02T14:46Z")
    assert _local(tmp_path, "up").returncode == 0
    try:
        ran = _pipeline(tmp_path, "run", "--minutes", "2", "--start", "2026-11-02T14:45Z")
        assert ran.returncode == 0, ran.stderr[-2000:]
        verified = json.loads(_pipeline(tmp_path, "verify", *window, "--json").stdout)
        assert [s["sink_rows"] > 0 for s in verified["sources"]] == [True, True, True]

        # WHEN the stack is discarded and started again
        down = _local(tmp_path, "down", "--discard")
        assert down.returncode == 0, down.stderr
        assert "discarded the bucket, the queues and the sinks' rows" in down.stdout
        assert _local(tmp_path, "up").returncode == 0

        # THEN no sink holds a row of the window whose raw object is gone ("extra" to verify) ...
        empty = json.loads(_pipeline(tmp_path, "verify", *window, "--json").stdout)
        assert [(s["source"], s["extra"]) for s in empty["sources"]] == [
            ("yahoo_finance", 0), ("coinmarketcap", 0), ("openexchangerates", 0),
        ]  # fmt: skip
        # ... AND the same window run again verifies clean, as `make demo` after a discard does
        again = _pipeline(tmp_path, "run", "--minutes", "2", "--start", "2026-11-02T14:45Z")
        assert again.returncode == 0, again.stderr[-2000:]
        result = _pipeline(tmp_path, "verify", *window)
        assert result.returncode == 0, result.stdout[-3000:]
    finally:
        local_stack_module.down(Settings(local_dir=tmp_path), keep=False)


def test_down_refuses_while_a_message_is_in_flight_and_loses_nothing(tmp_path: Path) -> None:
    import boto3

    from workbench.cloudformation.topology import LOCAL_CREDENTIALS

    # GIVEN a FIFO queue whose first message a script has received (in flight), with another waiting behind it
    started = json.loads(_local(tmp_path, "up", "--json").stdout)
    try:
        session = boto3.session.Session(LOCAL_CREDENTIALS, LOCAL_CREDENTIALS, region_name=started["region"])
        sqs = session.client("sqs", endpoint_url=started["aws_endpoint_url"])
        queue = started["queues"]["coinmarketcap"]
        for n in (1, 2):
            sqs.send_message(QueueUrl=queue, MessageBody=f"m{n}", MessageGroupId="coinmarketcap",
                             MessageDeduplicationId=f"m{n}")  # fmt: skip
        held = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, VisibilityTimeout=300)["Messages"]
        assert [m["Body"] for m in held] == ["m1"]

        # WHEN `local down` runs, THEN it stops nothing and says why and what to type, in one line
        down = _local(tmp_path, "down")
        assert down.returncode == 1 and "Traceback" not in down.stderr
        [line] = down.stderr.strip().splitlines()
        assert line.startswith("error: 1 message(s) of queue coinmarketcap (visible again within ") and line.endswith(
            "in flight, received by a run or a script: nothing was stopped; run `python -m pipeline local down` "
            "again once they are visible, or `python -m pipeline local down --discard` to drop the bucket, the "
            "queues and the sinks' rows"
        )
        assert _local(tmp_path, "status").returncode == 0
        # AND both messages are still there: the held one comes back once released
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=held[0]["ReceiptHandle"], VisibilityTimeout=0)
        assert [b for b, _ in _bodies(sqs, queue)] == ["m1", "m2"]
        assert "kept 0 object(s) and 2 queued message(s)" in _local(tmp_path, "down").stdout
    finally:
        local_stack_module.down(Settings(local_dir=tmp_path), keep=False)
