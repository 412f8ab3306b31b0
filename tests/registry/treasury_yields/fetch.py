"""The live fetch. The fake source has no live service; a real source GETs its service here, classifies its error
answers (`UpstreamError` transient, `UpstreamRefused` terminal) and is tested against recorded answers."""

from __future__ import annotations

from typing import Any, NoReturn

from pipeline.sources.base import UpstreamRefused


def fetch_live(*_: Any) -> NoReturn:
    raise UpstreamRefused("treasury_yields: a fake source has no live service")
