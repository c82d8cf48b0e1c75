"""The ``infersight`` command line.

``infersight demo``                 everything on one machine: local broker, embedded ClickHouse
``infersight worker``               a faust worker against configured Kafka / ClickHouse
``infersight publish FILE.jsonl``   publish events from a file, with a progress bar
``infersight topics create``       create missing topics (deployments' init step)
``infersight db migrate``           apply the ClickHouse DDL
``infersight db query SQL``         run one read-only SQL statement (``--write`` to change data)

Configuration comes from ``INFERSIGHT_*`` variables (see streams/settings.py). An error is
one line saying what happened and what to do; ``--debug`` (anywhere on the line) shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import sys
from pathlib import Path
from typing import Any

from sinks.tables import render_table
from streams import cli_alerts, cli_analyst, cli_dataset
from streams.settings import load_settings

__all__ = ["main"]

log = logging.getLogger("infersight")


def _own_directory(settings: Any) -> Any:
    """The embedded directory's lock, taken before anything else (None on a server). A
    directory another process holds ends the command with one line and status 2."""
    if not settings.clickhouse.embedded:
        return None
    from streams.owner import DirectoryBusy, DirectoryLock

    try:
        return DirectoryLock.acquire(settings.clickhouse.data_dir, "infersight worker")
    except DirectoryBusy as exc:
        msg = (
            f"infersight worker: {exc}; chDB allows one process per directory. Stop it, "
            "give this worker its own INFERSIGHT_DATA_DIR, or run several workers on a "
            "ClickHouse server (INFERSIGHT_CLICKHOUSE_URL)."
        )
        print(msg, file=sys.stderr)
        raise SystemExit(2) from None


def cmd_worker(args: argparse.Namespace) -> int:
    from alerting.rulefile import RuleFileError
    from streams.app import build, ensure_topics, placeholder_secrets, unkeyed_ids_warning
    from streams.lifecycle import BoundedWorker

    settings = load_settings()
    lock = _own_directory(settings)
    if not settings.kafka.bootstrap:
        print(
            "infersight worker: INFERSIGHT_KAFKA_BOOTSTRAP is not set (host:port of a Kafka "
            "broker); `infersight demo` starts a local one.",
            file=sys.stderr,
        )
        return 2
    created = asyncio.run(ensure_topics(settings.kafka, settings.otel.topics()))
    if created:
        print(f"created topics: {', '.join(created)}", file=sys.stderr)
    asyncio.set_event_loop(asyncio.new_event_loop())
    try:
        built = build(settings)
    except (RuleFileError, ValueError) as exc:
        print(f"infersight worker: {exc}", file=sys.stderr)
        return 2
    applied = built.sink.migrate()  # this process owns the ClickHouse directory from here on
    if applied:
        print(f"applied migrations: {', '.join(applied)}", file=sys.stderr)
    # Warned once the store is open, so a worker that cannot start says one thing: why.
    if (warning := unkeyed_ids_warning(settings)) is not None:
        print(f"infersight worker: warning: {warning}", file=sys.stderr)
    if placeholders := placeholder_secrets(settings):
        print(f"infersight worker: warning: {', '.join(placeholders)} still hold the deploy "
              "files' placeholder (CHANGE-ME): anyone who has read them can use it; set "
              "real secrets", file=sys.stderr)  # fmt: skip
    _announce(built.app, settings)
    worker = BoundedWorker(
        built.app, built.stop_hops, settings.shutdown_timeout_s,
        loglevel=settings.log_level, quiet=True,
    )  # fmt: skip
    try:
        worker.execute_from_commandline()
    finally:
        if lock is not None:
            from streams.owner import remove_discovery

            remove_discovery(settings.clickhouse.data_dir)
            lock.release()
    return 0


def _announce(app: Any, settings: Any) -> None:
    """Print the live page's address; once the web server is up, write the discovery file
    that lets `infersight query | report | alerts` reach this worker."""
    from streams.owner import LiveWorker, write_discovery

    url = LiveWorker(0, settings.web_host, settings.web_port).url
    print(f"live page: {url}/   (store API: {url}/api/queries)", file=sys.stderr)
    if settings.clickhouse.embedded:

        @app.task
        async def announce() -> None:
            write_discovery(settings.clickhouse.data_dir, settings.web_host, settings.web_port)


def cmd_publish(args: argparse.Namespace) -> int:
    from streams.app import aiokafka_security
    from streams.publish import Publisher, publish_lines, read_lines

    settings = load_settings()
    if not settings.kafka.bootstrap:
        print("infersight publish: set INFERSIGHT_KAFKA_BOOTSTRAP=host:port", file=sys.stderr)
        return 2
    lines = read_lines(Path(args.file))

    async def run() -> tuple[int, list[tuple[int, str]]]:
        topic = settings.kafka.topic("llm.inference.v1")
        feedback_topic = settings.kafka.topic("llm.feedback.v1")
        async with Publisher(
            settings.kafka.bootstrap, topic, feedback_topic, **aiokafka_security(settings.kafka)
        ) as pub:
            return await publish_lines(
                pub, lines, validate=not args.no_validate, total=len(lines),
                max_bytes=settings.ingest.max_message_bytes, feedback=args.feedback,
            )  # fmt: skip

    sent, refused = asyncio.run(run())
    for number, why in refused[:20]:
        print(f"{args.file}:{number}: refused: {why}", file=sys.stderr)
    if len(refused) > 20:
        print(f"... and {len(refused) - 20} more refused lines", file=sys.stderr)
    what, topic = ("events", "llm.inference.v1")
    if args.feedback:
        what, topic = ("feedback", "llm.feedback.v1")
    print(f"published {sent} {what} to {settings.kafka.topic(topic)}"
          f"{f', refused {len(refused)}' if refused else ''}")  # fmt: skip
    return 1 if refused else 0


def cmd_db_migrate(args: argparse.Namespace) -> int:
    from streams.remote import RemoteSink, open_store

    sink = open_store(load_settings().clickhouse, "infersight db migrate")
    if isinstance(sink, RemoteSink):
        print(f"schema is up to date (the worker at {sink.worker.url} migrated at start)")
        return 0
    applied = sink.migrate()
    print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")
    return 0


def cmd_topics_create(args: argparse.Namespace) -> int:
    from streams.app import ensure_topics

    settings = load_settings()
    if not settings.kafka.bootstrap:
        print("infersight topics create: set INFERSIGHT_KAFKA_BOOTSTRAP=host:port", file=sys.stderr)
        return 2
    created = asyncio.run(ensure_topics(settings.kafka, settings.otel.topics()))
    print(f"created: {', '.join(created)}" if created else "every topic exists")
    return 0


def print_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> None:
    if fmt == "json":
        for row in rows:
            print(json.dumps(dict(zip(columns, row, strict=True)), default=str))
    elif fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(columns)
        w.writerows(rows)
    else:
        print(render_table(columns, rows))


def cmd_db_query(args: argparse.Namespace) -> int:
    from sinks.clickhouse import single_statement
    from streams.remote import RemoteSink, StoreUnavailable, open_store

    sink = open_store(load_settings().clickhouse, "infersight db query")
    if isinstance(sink, RemoteSink):  # a running worker serves one SELECT, and checks it
        if args.write:
            msg = (
                f"the worker (pid {sink.worker.pid}) owns the data directory and serves reads "
                "only: stop it to run a statement that changes data"
            )
            raise StoreUnavailable(msg)
        columns, rows = sink.query(args.sql)
    else:
        try:
            sql = single_statement(args.sql)
        except ValueError as exc:
            sink.close()
            print(f"infersight db query: {exc}; run them one by one", file=sys.stderr)
            return 2
        # readonly=1: reads only, and the query cannot change settings to lift it.
        settings = None if args.write else {"readonly": 1}
        try:
            columns, rows = sink.query(sql, settings=settings, columns_when_empty=True)
        finally:
            sink.close()
    print_rows(columns, rows, args.format)
    if isinstance(sink, RemoteSink) and sink.truncated:
        print(f"(cut at {len(rows):,} rows by the worker's limit: add a LIMIT)", file=sys.stderr)
    return 0


def explain(exc: BaseException) -> str:
    """One line: what happened, and what to do about it."""
    from sinks.clickhouse import SinkUnavailable

    text = " ".join(str(exc).split())
    code = getattr(exc, "code", None)
    if isinstance(exc, SinkUnavailable):
        return text
    if "deserialization not supported" in text and "AggregateFunction" in text:
        return (
            "a column holds aggregate states (a rollup table), which cannot be printed: "
            "query the finalized views (events_per_minute, events_per_hour, "
            "detectors_per_minute, quality_per_hour, ...) or use -Merge functions "
            "(docs/analysts.md)"
        )
    if code == 62 or "Syntax error" in text:
        import re

        at = re.search(r"\(line (\d+), col (\d+)\)", text)
        where = f" at line {at[1]}, column {at[2]}" if at else ""
        return f"SQL syntax error{where}; check the statement"
    if code == 164 or "(READONLY)" in text:
        return "db query is read-only: add --write to run a statement that changes data"
    if code in (60, 81) or "UNKNOWN_TABLE" in text or "UNKNOWN_DATABASE" in text:
        return (
            f"{text[:200]}; check the name (SHOW TABLES), or run `infersight db migrate` "
            "if this database predates it"
        )
    if code is not None or "DB::Exception" in text:
        return f"ClickHouse refused it: {text[:300]}; check the SQL or the --param values"
    return f"{type(exc).__name__}: {text[:300]}"


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.demo import run_demo

    return run_demo(load_settings(), events=args.events, seed=args.seed)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="infersight", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run everything locally on embedded defaults")
    demo.add_argument("--events", type=int, default=3000, help="events to publish (3000)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the generated stream")
    demo.set_defaults(func=cmd_demo)

    worker = sub.add_parser("worker", help="run a stream worker (faust)")
    worker.set_defaults(func=cmd_worker)

    pub = sub.add_parser("publish", help="publish events from a JSON-lines file")
    pub.add_argument("file", help="one InferenceEvent JSON object per line")
    pub.add_argument("--no-validate", action="store_true",
                     help="send lines as they are; the worker dead-letters bad ones")  # fmt: skip
    pub.add_argument("--feedback", action="store_true",
                     help="the lines are UserFeedback (thumbs, score, label, comment for an "
                          "event_id): send them to llm.feedback.v1")  # fmt: skip
    pub.set_defaults(func=cmd_publish)

    db = sub.add_parser("db", help="ClickHouse schema and ad-hoc SQL")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    mig = dbsub.add_parser("migrate", help="apply pending migrations")
    mig.set_defaults(func=cmd_db_migrate)
    q = dbsub.add_parser("query", help="run one SQL statement (read-only unless --write)")
    q.add_argument("sql")
    q.add_argument("--format", choices=["table", "csv", "json"], default="table")
    q.add_argument("--write", action="store_true",
                   help="allow a statement that changes data (still one statement)")  # fmt: skip
    q.set_defaults(func=cmd_db_query)

    topics = sub.add_parser("topics", help="Kafka topics")
    tsub = topics.add_subparsers(dest="topics_command", required=True)
    tc = tsub.add_parser("create", help="create missing topics (INFERSIGHT_KAFKA_PARTITIONS)")
    tc.set_defaults(func=cmd_topics_create)

    cli_analyst.register(sub)  # query library, report
    cli_alerts.register(sub)  # alerts list|silence|unsilence|test|check
    cli_dataset.register(sub)  # dataset export (training data out)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # A connection failure is reported once, by us, in one line: not by each retrying layer.
    for noisy in ("urllib3.connectionpool", "clickhouse_connect.driver"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    from sinks.clickhouse import SinkUnavailable
    from streams.remote import StoreUnavailable

    try:
        return int(args.func(args) or 0)
    except (StoreUnavailable, SinkUnavailable) as exc:  # one line: what happened, what to do
        if debug:
            raise
        print(f"infersight {args.command}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        name = " ".join(filter(None, [args.command, getattr(args, "db_command", None)]))
        print(f"infersight {name}: {explain(exc)} (--debug shows the traceback)",
              file=sys.stderr)  # fmt: skip
        return 1


if __name__ == "__main__":
    sys.exit(main())
