"""Small JSON state documents a source keeps between invocations (in S3 in the pipeline, in memory in tests)."""

from __future__ import annotations

import json
from typing import Any, Protocol

from pipeline.constants import STATE_PREFIX


class StateStore(Protocol):
    def get(self, name: str) -> dict[str, Any] | None: ...

    def put(self, name: str, value: dict[str, Any]) -> None: ...


class MemoryState:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    def get(self, name: str) -> dict[str, Any] | None:
        return self.docs.get(name)

    def put(self, name: str, value: dict[str, Any]) -> None:
        self.docs[name] = json.loads(json.dumps(value))


class S3State:
    """`state/<name>.json` in the pipeline's bucket."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def key(self, name: str) -> str:
        return f"{STATE_PREFIX}/{name}.json"

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key(name))["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return json.loads(body)  # type: ignore[no-any-return]

    def put(self, name: str, value: dict[str, Any]) -> None:
        self.s3.put_object(
            Bucket=self.bucket, Key=self.key(name), Body=json.dumps(value).encode(), ContentType="application/json"
        )
