"""One owner per embedded data directory, and how others find it.

chDB allows one process per data directory. Rather than let a second process fail deep
inside chDB (a 60-line traceback about ``status`` locks), every process that opens an
embedded directory first takes our own lock, ``.infersight.lock`` beside chDB's files
(``fcntl.flock``: released by the kernel when the process dies, so a SIGKILL leaves no stale
lock). The lock file names its holder (pid, command).

A worker that owns the directory also writes ``worker.json`` there (host, port, pid, URL)
once its web server answers, and removes it on a clean stop. The command line reads it to
send queries and silences through the worker instead of opening the directory; a file left
by a killed worker is recognised (dead pid, or the lock is free) and ignored.

Examples
--------
>>> import tempfile
>>> d = Path(tempfile.mkdtemp())
>>> first = DirectoryLock.acquire(d, "infersight worker")
>>> try:
...     DirectoryLock.acquire(d, "infersight worker")
... except DirectoryBusy as exc:
...     print("busy:", exc.holder["command"])
busy: infersight worker
>>> first.release()
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DISCOVERY_FILE",
    "LOCK_FILE",
    "DirectoryBusy",
    "DirectoryLock",
    "LiveWorker",
    "find_worker",
    "remove_discovery",
    "write_discovery",
]

LOCK_FILE = ".infersight.lock"
DISCOVERY_FILE = "worker.json"


class DirectoryBusy(RuntimeError):
    """Another live process holds the data directory's lock; ``holder`` says who."""

    def __init__(self, directory: Path, holder: dict[str, Any]) -> None:
        self.directory = directory
        self.holder = holder
        who = f"pid {holder.get('pid', '?')} ({holder.get('command', 'unknown command')})"
        super().__init__(f"{directory} is in use by {who}")


class DirectoryLock:
    """An exclusive, process-lifetime lock on one data directory."""

    def __init__(self, directory: Path, fd: int) -> None:
        self.directory = directory
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, directory: Path, command: str) -> DirectoryLock:
        """Take the lock or raise ``DirectoryBusy`` at once (never waits)."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DirectoryBusy(directory, read_holder(directory)) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "command": command}).encode())
        return cls(directory, fd)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def read_holder(directory: Path) -> dict[str, Any]:
    try:
        data = json.loads((directory / LOCK_FILE).read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class LiveWorker:
    """What ``worker.json`` says: where the owning worker serves its store."""

    pid: int
    host: str
    port: int

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        return f"http://{host}:{self.port}"


def write_discovery(directory: Path, host: str, port: int) -> Path:
    """Announce this process as the directory's serving worker (atomic replace)."""
    path = directory / DISCOVERY_FILE
    tmp = path.with_suffix(".tmp")
    info = {"pid": os.getpid(), "host": host, "port": port}
    tmp.write_text(json.dumps({**info, "url": LiveWorker(**info).url}))
    tmp.replace(path)
    return path


def remove_discovery(directory: Path) -> None:
    """Remove ``worker.json`` if this process wrote it."""
    path = directory / DISCOVERY_FILE
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_worker(directory: Path) -> LiveWorker | None:
    """The worker serving ``directory``, or None when there is none (no file, or a file
    left by a worker that died: its pid is gone)."""
    try:
        data = json.loads((directory / DISCOVERY_FILE).read_text())
        worker = LiveWorker(int(data["pid"]), str(data["host"]), int(data["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return worker if _alive(worker.pid) else None
