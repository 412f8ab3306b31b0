"""What the moto server holds, kept across `local down` and `local up`.

moto keeps S3 and SQS in memory: stopping its server empties the bucket and every queue. So `down` first copies
out what the pipeline's state lives in, every current object of the bucket (the raw layer, processed objects,
quarantine records, state documents) and every message waiting in a queue or a dead-letter queue, to
`<local_dir>/moto-snapshot/`, and `up` puts them back into the new server once the topology is built, then sets
the copy aside as `moto-snapshot.restored/` (so a later `up` never brings back an old state a second time).

Kept: each object's bytes (so its ETag, which event deduplication ids are made of), content type and user
metadata; each message's body, attributes, group and deduplication id, in the order its queue gave them.
Not kept: noncurrent object versions and a message's receive count (a restored message starts again at 0). While
a message is in flight, `down` refuses (`InFlight`): it cannot be read, and its FIFO group hides what waits behind
it (an interrupted `run` releases its own first). A moto server that *died* (killed,
crashed) took its state with it before anything could be copied: `local status` says so, and `verify` then
reports the sinks' rows whose raw objects are gone as extra.

moto has no snapshot of its own (its recorder replays requests, whose receipt handles and timings do not replay),
so the copy goes through the same S3 and SQS APIs the pipeline uses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import boto3

from workbench.cloudformation.topology import LOCAL_CREDENTIALS

SNAPSHOT_DIR: Final = "moto-snapshot"
RESTORED_DIR: Final = "moto-snapshot.restored"
MANIFEST: Final = "manifest.json"
# A drained queue answers empty; this many receives without one is a queue that never empties (a bug, not data).
MAX_RECEIVES_PER_QUEUE: Final = 100_000


class InFlight(Exception):
    """A queue holds a message in flight: it cannot be copied, and a FIFO group hides what waits behind it."""


@dataclass(frozen=True)
class Kept:
    """How much a snapshot holds (or a restore put back)."""

    objects: int
    messages: int

    def __str__(self) -> str:
        return f"{self.objects} object(s) and {self.messages} queued message(s)"


def _clients(endpoint_url: str, region: str) -> tuple[Any, Any]:
    session = boto3.session.Session(
        aws_access_key_id=LOCAL_CREDENTIALS, aws_secret_access_key=LOCAL_CREDENTIALS, region_name=region
    )
    return session.client("s3", endpoint_url=endpoint_url), session.client("sqs", endpoint_url=endpoint_url)


def save(local_dir: Path, *, endpoint_url: str, region: str, bucket: str, queues: dict[str, str]) -> Kept:
    """Copy the bucket's current objects and every queue's waiting messages to `<local_dir>/moto-snapshot/`.

    `queues` maps a name to its URL (queues and dead-letter queues alike). The messages are received and deleted
    (a FIFO group shows its next messages only once the earlier ones are gone); if the copy cannot be written they
    are sent back, so a failed `down` loses nothing either.
    """
    s3, sqs = _clients(endpoint_url, region)
    _refuse_in_flight(sqs, queues)
    tmp = local_dir / (SNAPSHOT_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "objects").mkdir(parents=True)
    objects = _save_objects(s3, bucket, tmp / "objects")
    drained: dict[str, list[dict[str, Any]]] = {}
    try:
        for name, url in queues.items():
            drained[name] = _drain(sqs, url)
        manifest = {"bucket": bucket, "objects": objects, "queues": drained}
        (tmp / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
        target = local_dir / SNAPSHOT_DIR
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    except BaseException:
        for name, messages in drained.items():  # new deduplication ids: the old ones are remembered for 5 minutes
            with contextlib.suppress(Exception):
                _send(sqs, queues[name], [{**m, "dedup": _resent(m["dedup"])} for m in messages])
        raise
    return Kept(len(objects), sum(len(m) for m in drained.values()))


def _refuse_in_flight(sqs: Any, queues: dict[str, str]) -> None:
    """Raise `InFlight` naming the queues whose messages are in flight (received by a run or a script).

    Such a message cannot be read until its visibility timeout ends, and in a FIFO queue every message of its group
    waits behind it, unseen: copying then would lose them. Nothing is touched.
    """
    held = []
    for name, url in queues.items():
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible", "VisibilityTimeout"]
        )["Attributes"]
        if int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)):
            held.append(
                (name, int(attributes["ApproximateNumberOfMessagesNotVisible"]), attributes["VisibilityTimeout"])
            )
    if held:
        what = ", ".join(
            f"{n} message(s) of {name.replace(':', ' ')} (visible again within {t} s)" for name, n, t in held
        )
        raise InFlight(
            f"{what} in flight, received by a run or a script: nothing was stopped; run `python -m pipeline local "
            "down` again once they are visible, or `python -m pipeline local down --discard` to drop the bucket, "
            "the queues and the sinks' rows"
        )


def _resent(dedup: str | None) -> str | None:
    return None if dedup is None else hashlib.sha256(f"{dedup}:kept".encode()).hexdigest()


def _save_objects(s3: Any, bucket: str, folder: Path) -> list[dict[str, Any]]:
    saved: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=item["Key"])
            file = f"{len(saved):08d}.bin"
            (folder / file).write_bytes(got["Body"].read())
            saved.append(
                {
                    "key": item["Key"],
                    "file": file,
                    "content_type": got.get("ContentType") or "binary/octet-stream",
                    "metadata": got.get("Metadata") or {},
                }
            )
    return saved


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for _ in range(MAX_RECEIVES_PER_QUEUE):
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
        ).get("Messages", [])
        if not got:
            return messages
        for m in got:
            attributes = m.get("Attributes", {})
            messages.append(
                {
                    "body": m["Body"],
                    "group": attributes.get("MessageGroupId"),
                    "dedup": attributes.get("MessageDeduplicationId"),
                    "attributes": {
                        k: {f: v[f] for f in ("DataType", "StringValue") if f in v}
                        for k, v in m.get("MessageAttributes", {}).items()
                    },
                }
            )
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
        )
    raise RuntimeError(f"{url} did not empty after {MAX_RECEIVES_PER_QUEUE} receives")


def _send(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    for m in messages:
        params: dict[str, Any] = {"QueueUrl": url, "MessageBody": m["body"]}
        if m["attributes"]:
            params["MessageAttributes"] = m["attributes"]
        if m["group"]:
            params["MessageGroupId"] = m["group"]
        if m["dedup"]:
            params["MessageDeduplicationId"] = m["dedup"]
        sqs.send_message(**params)


def restore(local_dir: Path, *, endpoint_url: str, region: str, bucket: str, queues: dict[str, str]) -> Kept | None:
    """Put a snapshot `down` left back into a new server (None when there is none), then set it aside.

    A queue the template no longer declares is skipped (its messages stay in the set-aside copy).
    """
    folder = local_dir / SNAPSHOT_DIR
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        return None
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    s3, sqs = _clients(endpoint_url, region)
    for item in manifest["objects"]:
        s3.put_object(
            Bucket=bucket,
            Key=item["key"],
            Body=(folder / "objects" / item["file"]).read_bytes(),
            ContentType=item["content_type"],
            Metadata=item["metadata"],
        )
    sent = 0
    for name, messages in manifest["queues"].items():
        if name in queues:
            _send(sqs, queues[name], messages)
            sent += len(messages)
    restored = local_dir / RESTORED_DIR
    shutil.rmtree(restored, ignore_errors=True)
    folder.rename(restored)
    return Kept(len(manifest["objects"]), sent)
