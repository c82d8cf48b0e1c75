"""SQL text and time helpers shared by every module that writes ClickHouse SQL or rows.

One copy of each: a string literal, a ``DateTime64`` literal, and the two conversions between
the aware UTC datetimes our models carry and the naive UTC wall time clickhouse-connect
writes and returns.

>>> sql_literal("a'b")
"'a\\\\'b'"
>>> time_literal(datetime(2026, 1, 1, tzinfo=UTC))
"toDateTime64('2026-01-01 00:00:00.000000', 3, 'UTC')"
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["aware", "naive", "optional_time", "sql_literal", "time_literal"]


def sql_literal(value: str) -> str:
    """A ClickHouse string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def time_literal(value: datetime) -> str:
    """A ``DateTime64(3, 'UTC')`` literal for an aware (or UTC-naive) datetime."""
    return f"toDateTime64('{aware(value).astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}', 3, 'UTC')"


def naive(ts: datetime) -> datetime:
    """UTC wall time: clickhouse-connect writes naive datetimes as given."""
    return ts.astimezone(UTC).replace(tzinfo=None)


def aware(ts: datetime) -> datetime:
    """A datetime read back from ClickHouse (naive UTC) as an aware one."""
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def optional_time(ts: datetime | None) -> datetime | None:
    """A stored optional time: ClickHouse stores "no time" as the epoch."""
    if ts is None or ts.year < 1971:
        return None
    return aware(ts)
