"""A real ``mlflow server`` in a subprocess, for tests that need MLflow over HTTP.

The server keeps its SQLite backend store and proxied artifacts under ``root``, so it can be
stopped and started again on the same port with its data intact (to test an unreachable
tracking server that comes back).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, NoReturn, Self

__all__ = ["MlflowServer", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MlflowServer:
    """Start, stop and restart ``mlflow server`` on one port.

    Args:
        root: directory for ``mlflow.db``, ``artifacts/`` and ``server.log``.
        port: port to listen on (default: a free one, kept across restarts).
        startup_timeout: seconds to wait for ``GET /health`` to answer.
    """

    def __init__(self, root: Path, port: int | None = None, startup_timeout: float = 90) -> None:
        self.root = Path(root)
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.uri = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.env: dict[str, str] | None = None  # None: this process's environment

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--backend-store-uri",
            f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.root / "artifacts"),
            "--workers",
            "1",  # the machines running the tests are small
        ]

    def start(self) -> Self:
        """Start the server and wait until ``/health`` answers.

        Raises:
            RuntimeError: the server exited or did not answer within ``startup_timeout``
                (the message ends with its log).
        """
        if self.running:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        self._log = (self.root / "server.log").open("ab")
        # Its own session, so stop() can end the uvicorn and job-runner children with it.
        self._process = subprocess.Popen(
            self.command(),
            cwd=self.root,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=self.env,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._fail(f"mlflow server exited with code {self._process.returncode}")
            if self.healthy():
                return self
            time.sleep(0.25)
        self._fail(f"mlflow server did not answer {self.uri}/health in {self.startup_timeout} s")

    def healthy(self) -> bool:
        """Whether ``GET /health`` answers 200 now."""
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 15) -> None:
        """Terminate the server (its whole process group), killing it if it lingers."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                self._signal(process, signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal(process, signal.SIGKILL)
                    process.wait(timeout)
            self._signal(process, signal.SIGKILL)  # children that outlived the parent
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)  # the group start_new_session created for it

    def _fail(self, message: str) -> NoReturn:
        self.stop()
        log = (self.root / "server.log").read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{message}; log:\n{log}")
