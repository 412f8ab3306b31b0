"""Small JSON state documents a source keeps between invocations (in S3 in the pipeline, in memory in tests).

A document is read with its version (`read`) and written back only if nobody wrote it in between (`put_if`): in
S3 a conditional PUT, `If-None-Match: *` when the document did not exist and `If-Match: <ETag>` when it did, so
two invocations racing to spend one call cannot both win; the loser gets `StateConflict` (S3's 412
PreconditionFailed or 409 ConditionalRequestConflict) and reads again. `put` writes without a condition.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.constants import STATE_PREFIX


class StateConflict(Exception):
    """Another invocation wrote the state document since it was read: read it again."""


@dataclass(frozen=True)
class Versioned:
    doc: dict[str, Any] | None
    version: str | None  # None: the document does not exist


class StateStore(Protocol):
    def get(self, name: str) -> dict[str, Any] | None: ...

    def put(self, name: str, value: dict[str, Any]) -> None: ...

    def read(self, name: str) -> Versioned: ...

    def put_if(self, name: str, value: dict[str, Any], version: str | None) -> str:
        """Write `value` only if the document is still at `version` (None: still absent); the new version."""
        ...


class MemoryState:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> dict[str, Any] | None:
        return self.read(name).doc

    def read(self, name: str) -> Versioned:
        with self._lock:
            doc = self.docs.get(name)
            return Versioned(json.loads(json.dumps(doc)) if doc is not None else None, self._version(name))

    def _version(self, name: str) -> str | None:
        return str(self.versions[name]) if name in self.docs else None

    def put(self, name: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._write(name, value)

    def put_if(self, name: str, value: dict[str, Any], version: str | None) -> str:
        with self._lock:
            if self._version(name) != version:
                raise StateConflict(f"state {name}: written since version {version}")
            return self._write(name, value)

    def _write(self, name: str, value: dict[str, Any]) -> str:
        self.docs[name] = json.loads(json.dumps(value))
        self.versions[name] = self.versions.get(name, 0) + 1
        return str(self.versions[name])


_CONFLICTS = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409")


class S3State:
    """`state/<name>.json` in the pipeline's bucket; its ETag is its version."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def key(self, name: str) -> str:
        return f"{STATE_PREFIX}/{name}.json"

    def get(self, name: str) -> dict[str, Any] | None:
        return self.read(name).doc

    def read(self, name: str) -> Versioned:
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=self.key(name))
        except self.s3.exceptions.NoSuchKey:
            return Versioned(None, None)
        return Versioned(json.loads(answer["Body"].read()), str(answer["ETag"]))

    def put(self, name: str, value: dict[str, Any]) -> None:
        self.s3.put_object(
            Bucket=self.bucket, Key=self.key(name), Body=json.dumps(value).encode(), ContentType="application/json"
        )

    def put_if(self, name: str, value: dict[str, Any], version: str | None) -> str:
        from botocore.exceptions import ClientError

        condition = {"IfNoneMatch": "*"} if version is None else {"IfMatch": version}
        try:
            answer = self.s3.put_object(
                Bucket=self.bucket, Key=self.key(name), Body=json.dumps(value).encode(),
                ContentType="application/json", **condition,
            )  # fmt: skip
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _CONFLICTS:
                raise StateConflict(f"state {name}: {code}: written since it was read") from None
            raise
        return str(answer["ETag"])
