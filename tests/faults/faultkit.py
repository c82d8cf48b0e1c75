"""The fault-injection kit: tracked publishing, worker RSS and consumer-lag sampling, reading a
stopped worker's chDB, and the accounting every scenario reports.

Shared by ``tests/faults`` (short runs, exact assertions) and ``benchmarks/faults`` (longer
runs, REPORT.md). Everything here drives real processes: the tansu broker, ``infersight
worker`` subprocesses and chDB.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _p in (ROOT, ROOT / "tests" / "integration"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from helpers import committed  # noqa: E402 - tests/integration is not a package

from streams.settings import Settings  # noqa: E402

T = TypeVar("T")

MAX_PRODUCE_BYTES = 16 * 1024 * 1024


def wait_for(
    probe: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.25
) -> T:
    """Poll ``probe`` until it returns something truthy; ``TimeoutError`` after ``timeout_s``
    (usable outside pytest, by the benchmarks)."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval_s)
    msg = f"timed out after {timeout_s:.0f}s waiting for {what}: last={last!r}"
    raise TimeoutError(msg)


# -- publishing ----------------------------------------------------------------------------
@dataclass
class Published:
    """What was acknowledged by the broker, in publish order: one (partition, offset) per
    message, and a running count other threads may read."""

    positions: list[tuple[int, int]] = field(default_factory=list)
    attempts: int = 0  # sends retried after a broker error (producer reconnects)

    @property
    def count(self) -> int:
        return len(self.positions)


async def _produce(
    bootstrap: str,
    topic: str,
    messages: Sequence[tuple[bytes | None, bytes | None]],
    out: Published,
    chunk: int,
    pause_s: float,
    deadline_s: float,
) -> None:
    """Send in chunks; a chunk that fails (broker down) is sent again with a fresh producer
    until the broker acknowledges it (at-least-once: duplicates are absorbed downstream)."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    producer: AIOKafkaProducer | None = None
    i = 0
    while i < len(messages):
        part = messages[i : i + chunk]
        try:
            if producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=bootstrap, acks="all", max_request_size=MAX_PRODUCE_BYTES,
                    request_timeout_ms=5000, linger_ms=5,
                )  # fmt: skip
                await asyncio.wait_for(producer.start(), 10)
            futures = [await producer.send(topic, value, key=key) for key, value in part]
            metas = await asyncio.wait_for(asyncio.gather(*futures), 30)
        except (KafkaError, TimeoutError, OSError):
            out.attempts += 1
            if loop.time() > deadline:
                raise
            if producer is not None:
                try:
                    await asyncio.wait_for(producer.stop(), 5)
                except Exception:  # noqa: S110 - the broker is gone; the next start reconnects
                    pass
                producer = None
            await asyncio.sleep(0.5)
            continue
        out.positions.extend((m.partition, m.offset) for m in metas)
        i += len(part)
        if pause_s:
            await asyncio.sleep(pause_s)
    if producer is not None:
        await producer.stop()


def produce(
    bootstrap: str,
    topic: str,
    messages: Sequence[tuple[bytes | None, bytes | None]],
    out: Published | None = None,
    *,
    chunk: int = 500,
    pause_s: float = 0.0,
    deadline_s: float = 180.0,
) -> Published:
    """Publish ``messages`` (key, value) and wait for every acknowledgement."""
    out = out if out is not None else Published()
    asyncio.run(_produce(bootstrap, topic, messages, out, chunk, pause_s, deadline_s))
    return out


def produce_in_background(
    bootstrap: str, topic: str, messages: Sequence[tuple[bytes | None, bytes | None]], **kw: Any
) -> tuple[threading.Thread, Published, list[BaseException]]:
    out = Published()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            produce(bootstrap, topic, messages, out, **kw)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    thread = threading.Thread(target=run, name="producer", daemon=True)
    thread.start()
    return thread, out, errors


# -- sampling ------------------------------------------------------------------------------
def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of ``pid`` in KiB, from /proc; empty once it has exited."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except OSError:
        return {}
    return out


def committed_total(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    return sum(o or 0 for o in committed(bootstrap, group, topic, partitions))


class Sampler(threading.Thread):
    """Samples, until stopped: the RSS of every worker pid it is told about (peak VmHWM
    across them), and lag = acknowledged publishes - committed offsets of the group."""

    def __init__(
        self,
        lag: Callable[[], int] | None,
        interval_s: float = 0.5,
    ) -> None:
        super().__init__(name="sampler", daemon=True)
        self.lag_fn = lag
        self.interval_s = interval_s
        self.pids: list[int] = []
        self.max_hwm_kib = 0
        self.max_rss_kib = 0
        self.max_lag = 0
        self.lag_series: list[tuple[float, int]] = []
        self.rss_series: list[tuple[float, int]] = []
        self._halt = threading.Event()
        self.t0 = time.monotonic()

    def watch(self, pid: int) -> None:
        self.pids.append(pid)

    def sample(self) -> None:
        now = time.monotonic() - self.t0
        for pid in self.pids:
            st = proc_status(pid)
            if st:
                self.max_hwm_kib = max(self.max_hwm_kib, st.get("VmHWM", 0))
                self.max_rss_kib = max(self.max_rss_kib, st.get("VmRSS", 0))
                self.rss_series.append((now, st.get("VmRSS", 0)))
        if self.lag_fn is not None:
            try:
                lag = self.lag_fn()
            except Exception:  # broker restarting: no sample this round
                return
            self.max_lag = max(self.max_lag, lag)
            self.lag_series.append((now, lag))

    def run(self) -> None:
        while not self._halt.wait(self.interval_s):
            self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)
        self.sample()


# -- reading chDB --------------------------------------------------------------------------
def probe(
    data_dir: Path, database: str, queries: dict[str, str], dump: bool = False
) -> dict[str, Any]:
    """Run ``queries`` (and dump every table when ``dump``) on a stopped worker's chDB."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERSIGHT_")}
    req = {"data_dir": str(data_dir), "database": database, "queries": queries, "dump": dump}
    out = subprocess.run(
        [sys.executable, str(HERE / "chdb_probe.py")], input=json.dumps(req), env=env,
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        msg = f"chdb probe failed ({out.returncode}): {out.stderr[-3000:]}"
        raise RuntimeError(msg)
    return dict(json.loads(out.stdout))


STORE_QUERIES = {
    "events": "SELECT count() AS n, uniqExact(event_id) AS ids FROM events_v",
    "raw_events": "SELECT count() AS n FROM events",
    "event_ids": "SELECT event_id FROM events_v",
    "deadletters": "SELECT count() AS n FROM deadletters FINAL",
}


def stored(settings: Settings, dump: bool = False, extra: dict[str, str] | None = None) -> Any:
    return probe(
        settings.clickhouse.data_dir,
        settings.clickhouse.database,
        {**STORE_QUERIES, **(extra or {})},
        dump=dump,
    )


# -- accounting ----------------------------------------------------------------------------
@dataclass
class Accounting:
    """One run's ledger. ``lost`` and ``duplicates`` must be 0; published = stored + dead."""

    scenario: str
    published: int
    valid_published: int
    stored_ids: int  # distinct valid event ids found in ClickHouse (union over data dirs)
    lost: int  # valid events published but not found as queried
    unexpected: int  # ids found that were never published (must be 0)
    duplicates_as_queried: int  # rows beyond one per event id in events_v (per data dir)
    replayed_rows: int  # raw rows beyond one per id before FINAL (what dedup absorbed)
    deadlettered: int
    max_rss_mib: float
    max_lag: int
    wall_s: float
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.published == self.stored_ids + self.deadlettered

    def as_row(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "published": self.published,
            "stored": self.stored_ids, "dead-lettered": self.deadlettered,
            "balanced": self.balanced, "lost": self.lost,
            "duplicates as queried": self.duplicates_as_queried,
            "replayed rows absorbed": self.replayed_rows,
            "max worker RSS MiB": round(self.max_rss_mib, 1), "max lag": self.max_lag,
            "wall s": round(self.wall_s, 1),
        }  # fmt: skip


def account(
    scenario: str,
    published: int,
    valid_ids: Iterable[str],
    probes: Sequence[dict[str, Any]],
    deadlettered: int,
    sampler: Sampler | None,
    wall_s: float,
    **notes: Any,
) -> Accounting:
    """The ledger from what was published and what each data dir holds as queried."""
    valid = set(valid_ids)
    found: set[str] = set()
    dups = replayed = 0
    for p in probes:
        ids = {r["event_id"] for r in p["queries"]["event_ids"]}
        [ev] = p["queries"]["events"]
        dups += int(ev["n"]) - int(ev["ids"])
        replayed += int(p["queries"]["raw_events"][0]["n"]) - int(ev["ids"])
        found |= ids
    return Accounting(
        scenario=scenario, published=published, valid_published=len(valid),
        stored_ids=len(found & valid), lost=len(valid - found), unexpected=len(found - valid),
        duplicates_as_queried=dups, replayed_rows=replayed, deadlettered=deadlettered,
        max_rss_mib=(sampler.max_hwm_kib / 1024) if sampler else 0.0,
        max_lag=sampler.max_lag if sampler else 0, wall_s=wall_s, notes=dict(notes),
    )  # fmt: skip


def find_canaries(canaries: Iterable[str], texts: dict[str, str]) -> list[tuple[str, str]]:
    """Every (where, canary) pair with the raw canary inside ``texts[where]``."""
    return [(where, c) for where, text in texts.items() for c in canaries if c in text]


def log_text(paths: Iterable[Path]) -> str:
    return "\n".join(p.read_text(errors="replace") for p in paths if p.exists())


def signature_ok(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Check ``X-Infersight-Signature`` as a receiver would (alerting/channels/webhook.py's scheme)."""
    import hashlib
    import hmac

    ts = headers.get("x-infersight-timestamp", "")
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("x-infersight-signature", ""), f"sha256={mac}")
