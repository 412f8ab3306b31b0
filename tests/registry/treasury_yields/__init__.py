"""treasury_yields: US Treasury yields by tenor, a fake fourth source of the registry tests.

Laid out as every source under `pipeline/sources/` is: `fetch` (the live fetch), `simulated` (the twin),
`parse` (the parser), `budget` (its budget or state), `source` (the `Source` the registry names); this package
exposes `SOURCE`.
"""

from __future__ import annotations

from tests.registry.treasury_yields.source import SOURCE, TreasurySource

__all__ = ["SOURCE", "TreasurySource"]
