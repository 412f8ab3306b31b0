"""Where the processed Parquet objects go: a bucket (the pipeline's own) and the processed prefix."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.settings import Settings
from pipeline.sinks.base import SinkError


class ParquetConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    bucket: str = Field(min_length=3, max_length=63)
    compression: str = "zstd"

    @classmethod
    def from_settings(cls, settings: Settings) -> ParquetConfig:
        try:
            return cls(bucket=settings.bucket)
        except ValidationError as exc:
            raise SinkError(
                f"parquet sink: bucket {settings.bucket!r} is not a valid bucket name: set PIPELINE_BUCKET"
            ) from exc
