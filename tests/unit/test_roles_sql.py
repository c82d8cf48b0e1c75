"""sinks/queries/roles.sql parses as ClickHouse SQL, and every limit of the analysts'
profile carries a constraint (MAX or CONST), so a readonly = 2 session cannot raise it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sinks.clickhouse import ClickHouseSettings, ClickHouseSink, Migration

ROLES = Path(__file__).resolve().parents[2] / "sinks" / "queries" / "roles.sql"


@pytest.fixture(scope="module")
def sink(chdb_dir):
    s = ClickHouseSink(ClickHouseSettings(data_dir=chdb_dir, database="roles_unit"))
    yield s
    s.close()


def test_analyst_profile_limits_are_constrained_and_the_file_parses(sink) -> None:
    """ClickHouse's own parser (formatQuery) reads every statement; in the analyst profile
    each limit has MAX (or CONST) and readonly is CONST."""
    statements = Migration(version=0, name="roles", sql=ROLES.read_text()).statements()
    formatted = [sink.scalar("SELECT formatQuery({q:String})", {"q": q}) for q in statements]
    [profile] = [f for f in formatted if f.startswith("CREATE SETTINGS PROFILE")]
    settings = profile.split("` SETTINGS ", 1)[1].rsplit(" TO ", 1)[0]
    entries = [e.strip() for e in settings.split(",")]
    assert len(entries) >= 3
    for entry in entries:
        name = entry.split()[0]
        assert re.search(r"\b(MAX|CONST)\b", entry), f"{name} can be raised: {entry}"
    assert any(e.startswith("readonly = 2") and "CONST" in e for e in entries)
