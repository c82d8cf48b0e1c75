"""One plain-text table renderer, for the CLI, the named queries, the alerts commands and the
demo's summary.

>>> print(render_table(["model", "calls"], [("gpt-4o", 12), ("mini", 3)]))
model   calls
------  -----
gpt-4o  12
mini    3
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["render_table"]


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
