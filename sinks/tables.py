"""Query results as text: one plain-text table renderer (for the CLI, the named queries, the
alerts commands and the demo's summary), and a named query's result as table, CSV or JSON.

>>> print(render_table(["model", "calls"], [("gpt-4o", 12), ("mini", 3)]))
model   calls
------  -----
gpt-4o  12
mini    3
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol


class QueryResult(Protocol):
    """What ``format_result`` reads: column names and rows (``sinks.queries.QueryResult``)."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


__all__ = ["cell_text", "format_result", "render_table"]


def render_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    cell: Callable[[Any], str] = str,
    indent: str = "",
) -> str:
    """Columns left-aligned two spaces apart, a dashed rule under the header; ``cell`` turns
    each value into text, ``indent`` prefixes every line. Trailing spaces are trimmed."""
    cells = [[str(c) for c in columns]] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(indent + line.rstrip() for line in lines)


def _plain(value: Any) -> Any:
    """JSON-friendly value: exact decimals as strings, times in ISO 8601, NaN as null."""
    if isinstance(value, Decimal):
        return f"{value:f}"  # never exponent notation (0E-9)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def cell_text(value: Any) -> str:
    """One value as table/CSV text: exact decimals, ISO times, lists comma-joined."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def format_result(result: QueryResult, fmt: str = "table") -> str:
    """Render as an aligned text ``table``, ``csv`` (with header) or ``json`` (a list of
    objects; decimals as strings so that no digit is lost).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> result = SimpleNamespace(columns=["model", "cost_usd"], rows=[("gpt-4o", Decimal("1.5"))])
    >>> print(format_result(result))
    model   cost_usd
    ------  --------
    gpt-4o  1.5
    """
    if fmt == "json":
        objs = [dict(zip(result.columns, map(_plain, row), strict=True)) for row in result.rows]
        return json.dumps(objs, indent=2, ensure_ascii=False)
    cells = [[cell_text(v) for v in row] for row in result.rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(cells)
        return out.getvalue().rstrip("\n")
    if fmt == "table":
        return render_table(result.columns, cells)
    msg = f"fmt must be 'table', 'csv' or 'json', got {fmt!r}"
    raise ValueError(msg)
