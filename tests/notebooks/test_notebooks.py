"""The course notebooks, run with papermill against the local stack on small parameters.

Each notebook's last cell (tagged `record`, collapsed) keeps the values it recorded (`workbench.course.record`) in an
output no front end shows; these tests assert on them. nbval then re-runs the notebooks whose outputs are meant to
be stable and compares the cells tagged `nbval-check-output` with the committed outputs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import nbformat
import pandas as pd
import papermill
import pytest

from workbench.cloudformation.template import load_template
from workbench.course import KERNEL, RECORD_MIME, RECORD_TAG, kernel_config, output_problems, recorded
from workbench.local.servers import LocalStack

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
# Notebooks whose checked outputs (cells tagged nbval-check-output) are deterministic.
STABLE = ("01_sources.ipynb", "02_raw_layer.ipynb", "03_fanout_sns_sqs_fifo.ipynb", "05_sinks.ipynb")

pytestmark = [pytest.mark.notebook, pytest.mark.stack, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack_env(local_stack: LocalStack) -> Iterator[dict[str, str]]:
    """The test session's stack in this process's environment, which the notebook kernels inherit."""
    env = local_stack.env()
    with mock.patch.dict(os.environ, {**env, "POWERTOOLS_LOG_LEVEL": "WARNING"}):
        yield env


def run(name: str, tmp_path: Path, **parameters: Any) -> dict[str, Any]:
    """Execute one notebook with papermill and return what its record cell recorded."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    output = tmp_path / name
    papermill.execute_notebook(
        str(NOTEBOOKS / name),
        str(output),
        parameters=parameters,
        kernel_name=KERNEL,
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        config=kernel_config(),  # IPC, so no "running over TCP without encryption" warning
    )
    values = recorded(nbformat.read(output, as_version=4))
    if name[:2] != "00":  # every chapter's solutions ran in the notebook and its checkers said right
        assert len(values["exercises"]) >= 2 and all(values["exercises"].values()), values["exercises"]
    return values


def template_max_receive_count() -> int:
    """The source queues' maxReceiveCount, as the template's default deploy sets it."""
    from workbench.cloudformation.template import Template

    return int(Template.load().parameters["MaxReceiveCount"])


def check_00(values: dict[str, Any]) -> None:
    assert values["raw_objects"] == {"yahoo_finance": 2, "coinmarketcap": 2, "openexchangerates": 2}
    assert values["rows_processed"]["yahoo_finance"] > 0  # a share of the universe a minute, with a lookback
    assert values["rows_processed"]["coinmarketcap"] == 2 * 10
    assert set(values["dead_letters"].values()) == {0}
    assert all(count > 0 for count in values["sink_rows"].values()), values["sink_rows"]


def check_01(values: dict[str, Any]) -> None:
    assert values["yahoo_rows"] == values["yahoo_success"] > 0  # the minute's share of the universe, closed bars
    assert values["twin_is_deterministic"] is True
    assert values["coins"] == values["coins_from_json_fallback"] == 10
    assert values["layout_errors"] == ["moved", "restyled"]
    assert values["oxr_distinct_timestamps"] == {"3600": 1, "60": 10}
    assert set(values["live_outcomes"]) == {"yahoo_finance", "coinmarketcap", "openexchangerates"}


def check_02(values: dict[str, Any]) -> None:
    assert values["key"] == "raw/yahoo_finance/2026/11/05/1530.csv"  # 02 works on 5 November
    assert values["retry_same_key"] is True
    assert values["kept_existing_for_worse_answer"] is True
    assert values["success_rows_kept"] > 2  # the object there, not the worse answer of 2 rows
    assert values["raw_objects_in_window"] == 3
    assert values["rows_in_window"] >= 3 * 3  # distinct (ts, symbol) bars: every stock in every minute, at least
    assert values["dead_letters"] == 0
    # The learner's key function named the object of the minute after the run (3 minutes from 15:30), the retry
    # wrote the same key, and the process function loaded it
    assert values["your_key"] == values["your_retry_key"] == "raw/coinmarketcap/2026/11/05/1533.csv"
    assert values["your_rows_loaded"] > 0 and values["your_key_quarantined"] == 0


def check_03(values: dict[str, Any]) -> None:
    assert values["routed"] == {"yahoo_finance": 1, "coinmarketcap": 1, "openexchangerates": 1}
    assert values["duplicate_dropped"] is True
    assert set(values["drained"].values()) == {0}
    # The poison is quarantined and its group moves on; the event nobody answers reaches the DLQ after
    # maxReceiveCount receives (its count there one more), and is redriven and processed.
    assert values["quarantined"] == 1
    assert values["max_receive_count"] == template_max_receive_count()
    assert values["dead_lettered"] == 1
    assert values["receive_count_in_dlq"] == values["max_receive_count"] + 1
    assert values["redriven"] == 1
    assert values["archived"] == 0
    assert values["queue_after_redrive"] == 0
    assert values["dlq_after_cleanup"] == 0


def check_04(values: dict[str, Any]) -> None:
    assert values["records_in_first_batch"] == 3
    assert values["first_batch_failures"] == []
    assert values["bars_loaded"] > 0  # the minutes' shares of the universe (Yahoo rotates through it)
    # The poison is terminal: quarantined and reported done, so the good record behind it is not held back
    assert values["partial_failures"] == [] and values["poison_quarantined"] is True
    # A bad row is rejected with why, the good row beside it loaded
    assert "inconsistent OHLC for BAD" in values["validation_error"]
    assert values["rows_loaded_beside_bad"] == 1
    assert values["bars_before_reprocessing"] == values["bars_after_reprocessing"] == values["bars_loaded"]
    # The learner's partial-batch response: Snowflake down at the third of five records, so the third and the two
    # after it are reported and come back, in order, and load once; the same ids Powertools' FIFO processor reports
    first, *again = values["your_deliveries"]
    assert len(first) == 5 and again == [first[2:]], values["your_deliveries"]
    assert values["your_reported"] == [3, 0]
    assert values["your_response_as_powertools"] is True and values["your_bars_once"] == 1


def check_05(values: dict[str, Any]) -> None:
    assert values["verified"] is True
    assert values["bars"] > 0  # the minutes' shares of the universe (Yahoo rotates through it)
    assert values["rate_publications"] == 3
    assert values["sink_rows"] == values["sink_rows_before_replay"]
    assert values["sink_rows"]["parquet_coin_rows"] == 3 * 10
    assert values["replayed"] == 3 * 3
    assert {"symbol", "price_usd", "raw_key"} <= set(values["parquet_columns"])
    assert values["dead_letters"] == 0
    # The learner's MERGE (its solution here) on the pipeline's own rows: every row the stock raw objects delivered
    # is one bar, the redelivered minute adds none, and the table is the pipeline's own
    yours = values["your_merge"]
    assert yours["rows loaded"] == values["stock_rows"] == values["bars_carried"] == yours["bars in your table"]
    assert (
        yours["distinct (symbol, ts)"]
        == yours["bars after it"]
        == yours["distinct after it"]
        == yours["bars in your table"]
    )
    assert yours["rows loaded again (first minute)"] > 0 and yours["bars unlike the pipeline's table"] == 0
    assert values["bars"] <= values["bars_carried"]  # section 2 selects by minute, the raw objects carry older bars


def check_06(values: dict[str, Any]) -> None:
    from workbench.deploy.functions import all_functions
    from workbench.deploy.layers import layer_specs

    functions = len(all_functions())  # the function table (workbench/deploy/functions.py)
    assert values["functions"] == functions
    assert values["layers"] == sorted(layer_specs(all_functions()))  # one layer per set of extras: fewer than functions
    # Every function's size, from a full build here or from the measured file, each within Lambda's limit
    assert values["functions_sized"] == functions and values["all_within_limit"] is True
    assert values["full_build"] or values["sizes_from"].startswith("measured by `python -m pipeline layer build` on ")
    # What section 1 says of one layer for everything: over Lambda's limit, and over the budget without pyarrow
    from workbench.deploy.sizes import BUDGET, UNZIPPED_LIMIT

    assert values["one_layer_unzipped"] > UNZIPPED_LIMIT and values["one_layer_without_pyarrow"] > BUDGET
    assert values["measured_runtime"] == "python3.13"
    # The learner's requirement set (its solution here): the derived one, each with its version range
    from workbench.deploy.functions import get_function
    from workbench.deploy.layers import LayerSpec

    assert sorted(values["your_layer"]) == sorted(
        LayerSpec.for_function(get_function("process-openexchangerates")).requirements
    )
    if not values["index_reachable"]:
        pytest.skip("notebook 06 recorded that the package index was unreachable, so it built no layer")
    # One real layer, built from PyPI: under Lambda's limit, without the SDK the runtime has, with bytecode
    assert values["layer_built"] is True, values["build_error"]
    assert values["your_layer_built"] is True  # the layer on disk carries the cache key of the learner's set
    assert values["built_layer"] == "deps-sqlserver"
    assert 10 * 2**20 < values["function_unzipped"] < values["limit"] and values["within_limit"] is True
    assert {"sqlalchemy", "pymssql", "pydantic", "aws-lambda-powertools"} <= set(values["packages"])
    assert {"boto3", "botocore"} <= set(values["provided_by_runtime"]) and "boto3" not in values["packages"]
    assert values["py_files"] > 100
    if values["bytecode_expected"]:  # the runtime's Python is here: every module has its unchecked-hash bytecode
        assert values["bytecode_files"] == values["py_files"] and values["unchecked_hash"] is True


def template_created(parameters: dict[str, str]) -> list[dict[str, Any]]:
    """The resources a deploy with `parameters` creates (the template's Conditions evaluated)."""
    from workbench.cloudformation.template import Template

    return [resource for _, resource in Template.load(parameters=parameters).resources()]


def check_07(values: dict[str, Any]) -> None:
    from workbench.deploy.cost import compute, measured_durations

    sources = ("coinmarketcap", "openexchangerates", "yahoo_finance")
    # Counts come from the template, never from the text: the pipeline's functions, and the custom resource that
    # creates the RDS database (only with CreateSqlServer)
    declared = load_template()["Resources"].values()
    assert values["functions_in_template"] == sum(r["Type"] == "AWS::Lambda::Function" for r in declared)
    created = template_created({"Mode": "simulated"})
    functions_created = [r for r in created if r["Type"] == "AWS::Lambda::Function"]
    assert values["functions_created"] == len(functions_created) >= 2 * len(sources)
    assert values["queues_in_template"] >= 6
    # No layer build needed: placeholder layers, which a deploy to AWS refuses in one line
    assert values["placeholder_layers"] == 6
    assert values["refused_for_aws"].startswith("refusing to deploy placeholder layers")
    # The stack on the emulator holds what the template declares
    assert values["outputs"] > 0
    assert values["functions_deployed"] == values["functions_created"]
    assert values["handlers"] == sorted(r["Properties"]["Handler"] for r in functions_created)
    assert {f"pipeline.handlers.{k}.{s}" for k in ("ingest", "process") for s in sources} <= set(values["handlers"])
    # a queue and a dead-letter queue per source, and the dead-letter queue of the SNS subscriptions
    fifo = sum(r["Type"] == "AWS::SQS::Queue" and bool(r["Properties"].get("FifoQueue")) for r in created)
    assert values["fifo_queues"] == values["fifo_queues_created"] == fifo >= 2 * len(sources) + 1
    # The month's bill, as `python -m pipeline cost` computes it
    bill = compute(durations=measured_durations())
    assert (values["cost_usd"], values["cost_after_free_tier_usd"]) == (
        round(bill.total, 2),
        round(bill.total_after_free_tier, 2),
    )
    assert values["cost_durations_measured"] is bill.durations_measured
    assert values["redrive"] == [[f"{s}.fifo", template_max_receive_count()] for s in sources]
    assert values["filter_policies"] == {f"{s}.fifo": {"source": [s]} for s in sources}
    assert values["raw_delivery"] is True
    # a schedule per source (and any other scheduled function the template declares)
    assert len(values["schedules"]) == sum(r["Type"] == "AWS::Events::Rule" for r in created)
    ingest_schedules = [row for row in values["schedules"] if row[0].startswith("ingest-")]
    assert ingest_schedules == [[f"ingest-{s}", "rate(1 minute)", "ENABLED"] for s in sources]
    assert values["mappings"] == [[f"{s}.fifo", f"process-{s}", "ReportBatchItemFailures"] for s in sources]
    # An event reaches its source's queue alone; an update changes what the parameter drives; delete removes it
    assert values["routed"] == {"coinmarketcap": 1, "openexchangerates": 0, "yahoo_finance": 0}
    # The learner's Yahoo queue (its solution here) went into the template and the emulator created it as written
    assert values["your_queue"] is True
    assert values["your_queue_created"] == [True, "yahoo_finance-dlq.fifo", template_max_receive_count()]
    assert values["update_status"] == "UPDATE_COMPLETE"
    assert (values["ingest_memory_before"], values["ingest_memory_after"]) == ([1024], [1536])
    assert values["process_memory_unchanged"] is True
    assert values["deleted"] is True
    assert values["queues_after_delete"] == 0
    assert values["data_bucket_kept"] is True  # DeletionPolicy: RetainExceptOnCreate, after a create succeeded
    # Operate it: a stack deployed at 15:20 runs 10 minutes of 5 stocks and stops; status is ok at its last minute
    # and stale 30 minutes later; against the market (the open at 14:30 to 15:59) the day before the deployment and
    # the stop are missing, and a backfill makes every bar that existed reach the sink
    assert values["operate_status_ok"] is True
    assert values["operate_stale_after_stop"].startswith("stale: newest row 2026-11-23T15:29:00Z, 30 min behind")
    assert values["operate_expected"] == 5 * 89  # bars closed by 15:59, from 14:30
    assert 0 < values["operate_completeness_before"] < 0.5
    assert values["operate_missing_before"]["not fetched"] >= 5 * 45  # 14:30 to 15:15 at least: never fetched
    assert values["operate_completeness_after"] == 1.0


def check_08(values: dict[str, Any]) -> None:
    assert all(count > 0 for count in values["sink_rows"].values()), values["sink_rows"]
    assert all(count > 0 for count in values["instruments"].values()), values["instruments"]
    assert values["grid_minutes"] == 10
    # Yahoo fetches each ticker every K minutes (the rotation), so the window's last bar of a stock may only arrive
    # at that stock's next turn, after the window: every minute but possibly the last has its candle.
    assert values["grid_minutes"] - 1 <= values["stock_candles"] <= values["grid_minutes"]
    assert values["coin_candles"] >= 2
    assert values["correlation_size"] >= 2
    assert values["findings"] >= 3
    # the session backfilled for the longer window: stocks move most in the first half hour (the U shape)
    assert values["session_open_vs_midday"] > 1.5


CASES: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], None]]] = [
    ("00_overview_and_local_stack.ipynb", {"minutes": 2, "universe_limit": 5}, check_00),
    ("01_sources.ipynb", {"universe_limit": 3, "live_timeout": 5}, check_01),
    ("02_raw_layer.ipynb", {"minutes": 3, "universe_limit": 3}, check_02),
    ("03_fanout_sns_sqs_fifo.ipynb", {"universe_limit": 3}, check_03),
    ("04_processing.ipynb", {"universe_limit": 3, "batch_minutes": 3}, check_04),
    ("05_sinks.ipynb", {"minutes": 3, "universe_limit": 5}, check_05),
    ("06_lambda_layers.ipynb", {}, check_06),
    ("07_deploy_cloudformation.ipynb", {"stack_name": "notebook-test-pipeline", "placeholder_layers": True}, check_07),
    ("08_analysis.ipynb", {"minutes": 10, "universe_limit": 8, "vol_window": 5}, check_08),
]


def test_every_notebook_has_a_case() -> None:
    """Every chapter has a case here; the capstone (09) has its own module, test_capstone.py."""
    chapters = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if p.name != "09_capstone.ipynb")
    assert chapters == [name for name, _, _ in CASES]


@pytest.mark.parametrize(("name", "parameters", "check"), CASES, ids=[c[0].split("_")[0] for c in CASES])
def test_notebook_runs_and_records(
    name: str,
    parameters: dict[str, Any],
    check: Callable[[dict[str, Any]], None],
    stack_env: dict[str, str],
    tmp_path: Path,
) -> None:
    check(run(name, tmp_path, **parameters))


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
def test_notebook_structure(name: str) -> None:
    """A title, one parameters cell, a setup cell that checks the environment, links, and a recording last cell
    out of the learner's sight."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    cells = notebook.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith(f"# {name[:2]} · ")
    assert "What you will learn" in cells[0].source
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    assert any("check_environment(" in c.source for c in cells if c.cell_type == "code")
    assert any(c.source.startswith("## Summary") for c in cells if c.cell_type == "markdown")
    summary = next(c for c in cells if c.cell_type == "markdown" and c.source.startswith("## Summary"))
    assert "Previous:" in cells[0].source and "Next:" in summary.source
    # The recorded values come last, in a cell tagged `record`, collapsed, under no heading of their own
    assert cells[-1].cell_type == "code" and "record(" in cells[-1].source
    assert RECORD_TAG in cells[-1].metadata.get("tags", [])
    assert cells[-1].metadata.get("jupyter") == {"source_hidden": True, "outputs_hidden": True}
    assert not any(c.source.startswith("## For the tests") for c in cells if c.cell_type == "markdown")
    # The committed notebook keeps its executed outputs, so the course reads well without running it; the record
    # cell's is of a type no front end renders, and the tests read it back
    assert [o.get("output_type") for o in cells[-1].outputs] == ["display_data"]
    assert list(cells[-1].outputs[0]["data"]) == [RECORD_MIME]
    assert recorded(notebook), name
    # nbval reads its markers from the cells' tags, never from a comment the learner would read
    assert not any("NBVAL" in c.source for c in cells), name
    if name in STABLE:  # the nbval test below compares something
        assert any("nbval-check-output" in c.metadata.get("tags", []) for c in cells), name


def test_stable_outputs_match_the_committed_notebooks(stack_env: dict[str, str]) -> None:
    """nbval re-runs the stable notebooks and compares the cells tagged nbval-check-output."""
    command = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider", "-q"]
    result = subprocess.run(
        [*command, *(str(NOTEBOOKS / name) for name in STABLE)],
        cwd=NOTEBOOKS.parent,
        env={**os.environ, **stack_env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_collect_reads_the_bars_of_the_window_only(stack_env: dict[str, str], local_stack: LocalStack) -> None:
    """A 3-minute window holds 3 bar minutes, even when the sinks hold the minute after it."""
    from datetime import UTC, datetime, timedelta

    from workbench import analysis
    from workbench.local.demo import run_minutes

    start = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # a day no notebook and no demo uses
    os.environ["PIPELINE_UNIVERSE_LIMIT"] = "2"
    try:
        run_minutes(local_stack, 8, start, sources=["yahoo_finance"], progress=False)
    finally:
        os.environ.pop("PIPELINE_UNIVERSE_LIMIT", None)
    settings = local_stack.settings()
    held = analysis.load_bars(settings, start - timedelta(minutes=10), start + timedelta(minutes=10))
    after_window = pd.Timestamp(start + timedelta(minutes=2))  # closes at 15:03, after the window 15:00-15:02
    assert held["ts"].max() >= after_window, sorted(set(held["ts"]))  # the sinks hold later bars...
    bars = analysis.collect(settings, start, 3).bars
    first_bar, last_bar = pd.Timestamp(start - timedelta(minutes=1)), pd.Timestamp(start + timedelta(minutes=1))
    assert len(bars) and bars["ts"].between(first_bar, last_bar).all(), sorted(set(bars["ts"]))  # ...collect not
    assert bars["ts"].nunique() <= 3


def test_rewinding_a_window_resets_yahoos_state_but_never_takes_a_live_lease(
    stack_env: dict[str, str], local_stack: LocalStack
) -> None:
    """A notebook's window starts from a fresh Yahoo state, unless an ingest run on the stack holds its lease."""
    from datetime import UTC, datetime, timedelta

    from pipeline import aws
    from pipeline.contracts import iso
    from pipeline.sources.openexchangerates import QUOTA_STATE
    from pipeline.sources.yahoo_finance.budget import STATE_NAME
    from pipeline.state import S3State
    from workbench.course import rewind_simulated_state

    settings = local_stack.settings()
    store = S3State(aws.client("s3", settings), settings.bucket)
    window = "2026-11-17T15:00:00Z"  # a day no notebook and no demo uses
    live = {"owner": "another-run", "expires": iso(datetime.now(UTC) + timedelta(minutes=1)), "scheduled_at": window}
    saved = {name: store.get(name) for name in (STATE_NAME, QUOTA_STATE)}  # the session's stack: put them back
    try:
        store.put(STATE_NAME, {"through": {"AAPL": "2026-11-16T20:59:00Z"}, "lease": live})
        store.put(QUOTA_STATE, {"minute": "2026-11-16T20:59:00Z"})  # written for an earlier window: it stays
        with pytest.raises(RuntimeError, match="an ingest run of yahoo_finance on this stack is under way"):
            rewind_simulated_state(local_stack, window)
        assert store.get(STATE_NAME) is not None  # the running ingest keeps its lease and its progress
        store.put(STATE_NAME, {"through": {"AAPL": "2026-11-16T20:59:00Z"}, "lease": None})
        assert rewind_simulated_state(local_stack, window) == (STATE_NAME,)
        assert store.get(STATE_NAME) is None and store.get(QUOTA_STATE) == {"minute": "2026-11-16T20:59:00Z"}
    finally:
        s3 = aws.client("s3", settings)
        for name, doc in saved.items():
            if doc is None:
                s3.delete_object(Bucket=settings.bucket, Key=store.key(name))
            else:
                store.put(name, doc)


@pytest.mark.timeout(900)  # four notebook runs and a demo's run: longer than one notebook's time
def test_notebook_00_records_the_same_after_a_demo_and_after_08(
    stack_env: dict[str, str], local_stack: LocalStack, tmp_path: Path
) -> None:
    """Each notebook works on a window of its own: a demo's run and notebook 08 do not change what 00 records."""
    from workbench.local.demo import DEFAULT_START, run_minutes

    name, parameters, check = CASES[0]
    first = run(name, tmp_path / "first", **parameters)
    check(first)
    os.environ["PIPELINE_UNIVERSE_LIMIT"] = "8"
    try:  # what `make demo` does, in small: its default window, more stocks than the notebook's
        run_minutes(local_stack, 3, DEFAULT_START, progress=False)
    finally:
        os.environ.pop("PIPELINE_UNIVERSE_LIMIT", None)
    assert run(name, tmp_path / "after-demo", **parameters) == first
    run(CASES[-1][0], tmp_path / "08", **CASES[-1][1])
    assert run(name, tmp_path / "after-08", **parameters) == first


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
def test_stored_outputs_are_clean(name: str) -> None:
    """What a learner reads on GitHub: no traceback, no ANSI colour codes, no kernel or client-library noise, no
    Rich table that cuts a source's name, no solution's output, no "right" verdict, no solution whose collapsed first
    line shows the answer, no test marker in sight (the same check `make notebooks` makes before it writes one)."""
    assert output_problems(nbformat.read(NOTEBOOKS / name, as_version=4)) == []


def test_the_output_check_finds_what_a_learner_should_not_read() -> None:
    """The check itself: each kind of noise, in a stored output, is named with its cell."""
    notebook = nbformat.v4.new_notebook()
    noisy = [
        "\x1b[31mred\x1b[0m",
        "Kernel is running over TCP without encryption",
        "Failed to get ticker 'AAPL' reason: Cookie/crumb fetch failed (DNSError)",
        "│ openexchange… │",
    ]
    for text in noisy:
        cell = nbformat.v4.new_code_cell("print(...)")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        notebook.cells.append(cell)
    failed = nbformat.v4.new_code_cell("1 / 0")
    failed.outputs = [
        nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])
    ]
    notebook.cells.append(failed)
    assert output_problems(notebook) == [
        "cell 0: an ANSI escape",
        "cell 1: Kernel is running over TCP",
        "cell 2: Cookie/crumb fetch failed",
        "cell 3: a Rich table that cut a source's name",
        "cell 4: Traceback (most recent call last)",
    ]
