"""``infersight dataset export``: training data out of the store, mounted by ``register``.

``infersight dataset export --retraining-id ID --out DIR [--format jsonl,openai,parquet]``
writes the events a retraining event selected; ``--sql "SELECT event_id FROM events_v ..."``
writes any selection. See sinks/dataset.py for the formats and the manifest. Exit status: 0
written, 2 for a selection that cannot be exported (the message says why).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

__all__ = ["cmd_dataset_export", "register"]


def cmd_dataset_export(args: argparse.Namespace, settings: Any = None) -> int:
    from sinks.dataset import DatasetError, export_dataset, retraining_selection, sql_selection
    from streams.remote import StoreUnavailable, open_store
    from streams.settings import load_settings

    settings = settings or load_settings()
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    try:  # through the worker that owns an embedded directory, else the store itself
        sink = open_store(settings.clickhouse, "infersight dataset export")
    except StoreUnavailable as exc:
        print(f"infersight dataset export: {exc}", file=sys.stderr)
        return 2
    try:
        if settings.clickhouse.embedded:
            sink.migrate()
        if args.retraining_id:
            selection = retraining_selection(sink, args.retraining_id)
            how = f"--retraining-id {shlex.quote(args.retraining_id)}"
        else:
            selection = sql_selection(args.sql)
            how = f"--sql {shlex.quote(args.sql)}"
        command = (
            f"infersight dataset export {how} --out {shlex.quote(str(args.out))} "
            f"--format {','.join(formats)}"
        )
        manifest = export_dataset(
            sink, selection, Path(args.out), formats,
            redaction=settings.detectors.redaction,
            store_raw_pii=settings.detectors.store_raw_pii, command=command,
        )  # fmt: skip
        if getattr(sink, "truncated", False):
            msg = (
                "the running worker serves a limited number of rows per query and the "
                "dataset is larger: stop the worker, or export from a ClickHouse server"
            )
            raise DatasetError(msg)
    except (DatasetError, StoreUnavailable) as exc:
        print(f"infersight dataset export: {exc}", file=sys.stderr)
        return 2
    finally:
        sink.close()
    counts = manifest["counts"]
    print(f"wrote {counts['events']} events ({counts['negative']} labelled negative) to "
          f"{args.out}: {', '.join(f['path'] for f in manifest['files'].values())}, "
          "manifest.json")  # fmt: skip
    return 0


def register(subparsers: Any) -> None:
    """Add ``dataset export`` to the ``infersight`` sub-command parsers."""
    ds = subparsers.add_parser("dataset", help="export training data from the store")
    sub = ds.add_subparsers(dest="dataset_command", required=True)
    ex = sub.add_parser(
        "export",
        help="write selected events with their signals and feedback as labels",
        description="Write the events a retraining event (or a SELECT) picks, redacted as "
        "stored, with detector signals and user feedback as labels, and a manifest.",
    )
    which = ex.add_mutually_exclusive_group(required=True)
    which.add_argument("--retraining-id", help="the retraining_id of an llm.retraining.v1 event")
    which.add_argument("--sql", help="a SELECT returning event_id (e.g. over events_v)")
    ex.add_argument("--out", "-o", type=Path, required=True, help="directory to write")
    ex.add_argument("--format", default="jsonl",
                    help="comma-separated: jsonl, openai (chat fine-tuning), parquet")  # fmt: skip
    ex.set_defaults(func=cmd_dataset_export)
