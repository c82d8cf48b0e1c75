"""The analyst's commands, mounted on the ``infersight`` command line by ``register``.

``infersight query NAME [--param k=v ...] [--format table|csv|json]`` runs one of the named
queries of ``sinks.queries`` (``infersight query --list`` shows them and their parameters);
``infersight report --out FILE.html`` writes the static HTML report of ``sinks.report``.

Each handler takes the parsed arguments and, optionally, the ``ClickHouseSettings`` to use;
without them it reads ``INFERSIGHT_*`` settings itself. Exit status: 0 on success, 2 for a
query or parameter the library does not know (the message says what it does know).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sinks.clickhouse import ClickHouseSettings, ClickHouseSink

__all__ = ["cmd_query", "cmd_report", "register"]


def _settings(settings: ClickHouseSettings | None) -> ClickHouseSettings:
    if settings is not None:
        return settings
    from streams.settings import load_settings

    return load_settings().clickhouse


def _sink(settings: ClickHouseSettings, command: str = "infersight query") -> ClickHouseSink:
    """The store: through the running worker that owns an embedded directory, else the
    directory itself (schema brought up to date first) or the configured server."""
    from streams.remote import open_store

    sink = open_store(settings, command)
    if settings.embedded:  # a no-op through a worker: it migrated when it started
        sink.migrate()
    return sink


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        msg = f"expected NAME=VALUE, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return name.strip(), value


def _list_queries() -> str:
    from sinks.queries import QUERIES

    lines = []
    for q in QUERIES.values():
        lines.append(f"{q.name}: {q.title}")
        lines.extend(f"    --param {p.name}=<{p.type}>  {p.help}" for p in q.params)
    return "\n".join(lines)


def cmd_query(args: argparse.Namespace, settings: ClickHouseSettings | None = None) -> int:
    """Run a named query and print it in ``args.format``."""
    from sinks.queries import QueryError, run_query
    from sinks.tables import format_result

    if args.list or not args.name:
        print(_list_queries())
        return 0
    params = dict(args.param or [])
    sink = _sink(_settings(settings))
    try:
        result = run_query(sink, args.name, params)
    except QueryError as exc:
        print(f"infersight query: {exc}", file=sys.stderr)
        return 2
    finally:
        sink.close()
    print(format_result(result, args.format))
    return 0


def cmd_report(args: argparse.Namespace, settings: ClickHouseSettings | None = None) -> int:
    """Write the HTML report of the last ``args.days`` days (or ``--since``/``--until``)."""
    from sinks.report import ALL_SERVICES, render_report

    if args.days < 1:
        print(f"infersight report: --days must be at least 1, got {args.days}", file=sys.stderr)
        return 2
    today = datetime.now(UTC).date()
    until = args.until or today
    since = args.since or until - timedelta(days=args.days - 1)
    sink = _sink(_settings(settings), "infersight report")
    try:
        refresh = getattr(sink, "refresh_rollups", None)  # through a worker: its own call
        if refresh is not None:
            refresh()
        out = render_report(sink, args.out, since, until, service=args.service or ALL_SERVICES,
                            refresh=refresh is None)  # fmt: skip
    except ValueError as exc:
        print(f"infersight report: {exc}", file=sys.stderr)
        return 2
    finally:
        sink.close()
    print(f"wrote {out} ({out.stat().st_size:,} bytes, {since} to {until})")
    return 0


def register(subparsers: Any) -> None:
    """Add ``query`` and ``report`` to the ``infersight`` sub-command parsers."""
    q = subparsers.add_parser(
        "query",
        help="run a named analyst query (--list shows them)",
        description="Run a named, parameterised query; see docs/analysts.md.",
    )
    q.add_argument("name", nargs="?", help="query name, e.g. cost_by_model_day")
    q.add_argument(
        "--param",
        "-p",
        action="append",
        type=_param,
        metavar="NAME=VALUE",
        help="query parameter (repeatable), e.g. --param since=2026-01-01",
    )
    q.add_argument("--format", "-f", choices=["table", "csv", "json"], default="table")
    q.add_argument("--list", action="store_true", help="list the queries and their parameters")
    q.set_defaults(func=cmd_query)

    r = subparsers.add_parser(
        "report",
        help="write a static HTML report (the dashboard's charts, offline)",
        description="Write one self-contained HTML file with the dashboard's charts.",
    )
    r.add_argument("--out", "-o", type=Path, required=True, help="FILE.html to write")
    r.add_argument("--days", type=int, default=7, help="days up to today, inclusive (7)")
    r.add_argument("--since", type=date.fromisoformat, help="first day (YYYY-MM-DD)")
    r.add_argument("--until", type=date.fromisoformat, help="last day (YYYY-MM-DD)")
    r.add_argument("--service", help="only this service (default: all)")
    r.set_defaults(func=cmd_report)
