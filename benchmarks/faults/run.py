"""Longer fault-injection runs than CI's, with the accounting of each written to REPORT.md.

    nice python benchmarks/faults/run.py                 # every scenario, default sizes
    nice python benchmarks/faults/run.py --only sink_faults --scale 2

Same scenarios as ``tests/faults`` (tests/faults/scenarios.py), real processes throughout:
tansu (in memory; durable s3:// on localbucket for the broker restart), ``infersight worker``
subprocesses, chDB. Prints one accounting row per scenario and writes them, the facts behind
them and the exact command to ``benchmarks/faults/REPORT.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "faults"), str(ROOT / "tests" / "integration")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import faultkit as fk  # noqa: E402
import scenarios  # noqa: E402

from streams.broker import LocalBroker  # noqa: E402


def _plans(broker: str, tmp: Path, scale: float) -> dict[str, Callable[[], fk.Accounting]]:
    def n(x: int) -> int:
        return max(100, int(x * scale))

    return {
        "worker_sigkill": lambda: scenarios.worker_sigkill(
            broker, tmp / "kill", n=n(5000), kills=4, seed=101
        ),
        "sink_faults": lambda: scenarios.sink_faults(
            broker, tmp / "sink", n=n(4000), delay_s=0.3, outage_s=20, seed=102
        ),
        "broker_restart": lambda: scenarios.broker_restart(
            tmp / "broker", n=n(3000), down_s=8.0, seed=103
        ),
        "rebalance_kill": lambda: scenarios.rebalance_kill(
            broker, tmp / "rebalance", n=n(4000), seed=104
        ),
        "poison_and_canaries": lambda: scenarios.poison_and_canaries(
            broker,
            tmp / "poison",
            n_hyp_each=n(1500),
            n_hand=n(6000),
            n_canary=n(300),
            seed=105,
        ),  # fmt: skip
        "backfill_and_refused": lambda: scenarios.backfill_and_refused(
            broker, tmp / "backfill", months=150, after=n(1000)
        ),
        "sigterm_during_outage": lambda: scenarios.sigterm_during_outage(
            broker, tmp / "sigterm", n=n(2000), shutdown_timeout_s=30, seed=107
        ),
        "duplicates_without_timestamp": lambda: scenarios.duplicates_without_timestamp(
            broker, tmp / "dups", n=n(2000), seed=108
        ),
        "slow_and_dead_receivers": lambda: scenarios.slow_and_dead_receivers(
            broker, tmp / "receivers", slow_s=3.0, expiry_s=20.0
        ),
        "raw_pii_opt_in": lambda: scenarios.poison_and_canaries(
            broker,
            tmp / "rawpii",
            n_hyp_each=20,
            n_hand=100,
            n_canary=100,
            seed=106,
            store_raw_pii=True,
            ner=False,
        ),  # fmt: skip
    }


def _verdict(name: str, acc: fk.Accounting) -> list[str]:
    """What must hold, checked here too: a report states failures, it does not hide them."""
    problems = []
    if acc.lost or acc.unexpected or acc.duplicates_as_queried or not acc.balanced:
        problems.append("ledger does not balance / loss / duplicates")
    nt = acc.notes
    if name == "poison_and_canaries":
        if nt["dl_mismatches"] or nt["dl_missing"]:
            problems.append(f"{len(nt['dl_mismatches'])} wrong reasons, {len(nt['dl_missing'])} "
                            "bad messages not dead-lettered")  # fmt: skip
        if nt["canary_hits"]:
            problems.append(f"raw canaries found in {nt['canary_hit_places']}")
        if not nt["alive_same_pid"] or nt["batch_retries"]:
            problems.append("worker restarted or retried a batch")
    if name == "raw_pii_opt_in" and not nt["canary_hits"]:
        problems.append("opt-in raw PII run stored no canary: the search would be blind")
    if name == "rebalance_kill" and any(v > 1 for v in nt["alert_transitions"].values()):
        problems.append(
            "duplicate alerts across the takeover (embedded mode: each worker restores alert "
            "state from its own chDB directory)"
        )
    if name == "backfill_and_refused":
        if nt["months_stored"] != 150 or [d[1] for d in nt["dead_letters"]] != ["storage_rejected"]:
            problems.append("backfill not stored whole, or the refused event not dead-lettered")
    if name == "sigterm_during_outage":
        if nt["committed_after_term"] or nt["exit_code"] != 0 or nt["stop_s"] > 30:
            problems.append("SIGTERM committed unstored offsets, or did not exit cleanly in 30 s")
        if nt["health"]["healthz"]["status"] != "stalled":
            problems.append("/healthz did not report the stall")
    if name == "duplicates_without_timestamp" and nt["at_record_time"] != acc.stored_ids:
        problems.append("events without timestamp not stored at their record's time")
    if name == "slow_and_dead_receivers" and nt["pages_delivered"] != nt["pages_expected"]:
        problems.append("pages lost")
    if name == "sink_faults":
        stored_before = int(nt["outage_start"]["events_stored"])
        if max(d["committed"] for d in nt["during"]) > stored_before:
            problems.append("an offset was committed beyond what was stored during the outage")
        if any(d["stored"] != stored_before for d in nt["during"]):
            problems.append("events were stored while ClickHouse was down")
    return problems


def _facts(name: str, acc: fk.Accounting) -> dict[str, Any]:
    nt = dict(acc.notes)
    if name in ("poison_and_canaries", "raw_pii_opt_in"):
        hits = nt.pop("canary_hits")
        nt["canary_hits"] = len(hits)
        nt.pop("tables", None)
        nt["dl_mismatches"] = nt["dl_mismatches"][:5]
    if name == "sink_faults":
        nt["during"] = nt["during"][:: max(1, len(nt["during"]) // 8)]
    return nt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="scenario names (default: all)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply stream sizes")
    ap.add_argument("--report", type=Path, default=Path(__file__).with_name("REPORT.md"))
    ap.add_argument("--append", action="store_true",
                    help="add this run as a section of the report, not replace it")  # fmt: skip
    args = ap.parse_args(argv)
    # The broker-restart run makes aiokafka log every refused connection; the ledger says more.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    command = "python " + " ".join(
        shlex.quote(a)
        for a in [
            str(Path(__file__).relative_to(ROOT)),
            *(argv if argv is not None else sys.argv[1:]),
        ]
    )
    started = datetime.now(UTC)
    rows: list[tuple[str, fk.Accounting | None, list[str], str]] = []
    with tempfile.TemporaryDirectory(prefix="infersight-faults-") as tmp_s:
        tmp = Path(tmp_s)
        with LocalBroker(log_path=tmp / "tansu.log") as broker:
            plans = _plans(broker.bootstrap, tmp, args.scale)
            for name in args.only or list(plans):
                print(f"== {name}", flush=True)
                t0 = time.monotonic()
                try:
                    acc = plans[name]()
                except Exception:
                    err = traceback.format_exc(limit=3)
                    print(err, flush=True)
                    rows.append((name, None, [f"scenario raised after "
                                              f"{time.monotonic() - t0:.0f}s"], err))  # fmt: skip
                    continue
                problems = _verdict(name, acc)
                print(json.dumps(acc.as_row()), flush=True)
                print("problems:", problems or "none", flush=True)
                rows.append((name, acc, problems, ""))
    _write(args.report, command, started, rows, append=args.append)
    print(f"wrote {args.report}")
    return 0 if all(not p for _, _, p, _ in rows) else 1


def _write(
    path: Path,
    command: str,
    started: datetime,
    rows: list[tuple[str, fk.Accounting | None, list[str], str]],
    append: bool = False,
) -> None:
    cols = ["scenario", "published", "stored", "dead-lettered", "balanced", "lost",
            "duplicates as queried", "replayed rows absorbed", "max worker RSS MiB", "max lag",
            "wall s", "pages expected / delivered"]  # fmt: skip
    out = [
        "# Fault-injection report",
        "",
        f"Command (from the repository root): `{command}`",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} CPUs, Python {platform.python_version()}), shared with other "
        "jobs: wall times are indicative only.",
        "",
        "Ledger per run: published = stored (distinct valid event ids found as analysts "
        "query, union over data directories) + dead-lettered; duplicates as queried = rows "
        "beyond one per event id in `events_v` (FINAL); replayed rows absorbed = raw rows "
        "that deduplication had not yet merged away when read (a lower bound: background "
        "merges collapse replays too; the SIGKILL run also counts writes per worker, "
        "`replays_written`); max worker RSS = peak VmHWM over every worker process "
        "of the run (/proc/PID/status); max lag = acknowledged publishes minus the group's "
        "committed offsets (consumer `committed()`), sampled every 0.5 s.",
        "",
        "| " + " | ".join(cols) + " | problems |",
        "|" + "---|" * (len(cols) + 1),
    ]
    for name, acc, problems, _ in rows:
        cells = [str(v) for v in acc.as_row().values()] if acc else [name] + ["-"] * (len(cols) - 2)
        pages = acc and acc.notes.get("pages_expected")
        cells.append(f"{pages} / {acc.notes['pages_delivered']}" if acc and pages else "-")
        out.append("| " + " | ".join(cells) + " | " + ("; ".join(problems) or "none") + " |")
    out += ["", "## Facts behind each row", ""]
    for name, acc, _problems, err in rows:
        out.append(f"### {name}")
        out.append("")
        if acc is None:
            out += ["```", err.strip(), "```", ""]
            continue
        out += ["```json", json.dumps(_facts(name, acc), indent=1, default=str)[:6000], "```", ""]
    if append and path.exists():
        # A section of its own, after what is there: heading levels one deeper.
        body = ["## " + out[0].lstrip("# ") + f" (added: {', '.join(n for n, *_ in rows)})"]
        body += [("#" + ln if ln.startswith("#") else ln) for ln in out[1:]]
        path.write_text(path.read_text().rstrip("\n") + "\n\n" + "\n".join(body) + "\n")
        return
    path.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
