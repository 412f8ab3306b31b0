"""Its budget or state. The fake's twin costs nothing, so it has no budget to keep; a metered source keeps its
guard here on the shared primitives of `pipeline.sources.budget` (month span, pace, the daily reconciliation),
as `pipeline/sources/openexchangerates/budget.py` and `pipeline/sources/coinmarketcap/budget.py` do."""

from __future__ import annotations

from typing import Final

MONTHLY_CALLS: Final = 0  # the plan's monthly allowance (0: unlimited)
