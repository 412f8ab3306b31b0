"""The query helpers a script or a notebook uses: with no settings they read the local stack's Snowflake."""

from __future__ import annotations

import pytest

from pipeline.settings import Settings
from workbench.local import snowflake


@pytest.mark.stack
def test_without_settings_the_helpers_read_the_local_stack_of_the_environment(local_env: Settings) -> None:
    assert snowflake.query("SELECT ? + 1", (41,)) == [(42,)]
    with snowflake.cursor() as cur:
        cur.execute("SELECT 'one session'")
        assert cur.fetchone() == ("one session",)


def test_the_runtime_helpers_take_the_settings_they_connect_with() -> None:
    from pipeline.sinks.snowflake import query

    with pytest.raises(TypeError, match="settings"):
        query("SELECT 1")  # type: ignore[call-arg]
