"""A service in a subprocess of its own, on a loopback port, that tests start and stop.

:class:`ServiceProcess` runs the command in its own process group (so ``stop()`` ends the
children with it), appends its output to ``server.log`` under ``root`` and waits until the
service says it is healthy. It can be stopped and started again on the same port, to test a
service that goes away and comes back. Subclasses give :meth:`~ServiceProcess.command` and
:meth:`~ServiceProcess.healthy`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, NoReturn, Self

from tests.support.ports import free_port

__all__ = ["ServiceProcess", "answers_200"]


def answers_200(url: str, timeout: float = 2) -> bool:
    """Whether ``GET url`` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class ServiceProcess:
    """Start, stop and restart a service subprocess on one port.

    Args:
        root: directory the service runs in, with its ``server.log``.
        port: port to listen on (default: a free one, kept across restarts).
        startup_timeout: seconds to wait for :meth:`healthy`.
        env: the service's environment (None: this process's).
    """

    #: what the service is called in error messages
    name = "service"

    def __init__(
        self,
        root: Path,
        port: int | None = None,
        startup_timeout: float = 90,
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = Path(root)
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.uri = f"http://127.0.0.1:{self.port}"
        self.env = env
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        """The command line that runs the service in the foreground."""
        raise NotImplementedError

    def healthy(self) -> bool:
        """Whether the service answers as ready now."""
        raise NotImplementedError

    def start(self) -> Self:
        """Start the service and wait until it is healthy.

        Raises:
            RuntimeError: the service exited or was not healthy within ``startup_timeout``
                (the message ends with its log).
        """
        if self.running:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        self._log = self.log_file.open("ab")
        # Its own session, so stop() can end the children (workers, job runners) with it.
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
                self._fail(f"{self.name} exited with code {self._process.returncode}")
            if self.healthy():
                return self
            time.sleep(0.25)
        self._fail(f"{self.name} at {self.uri} was not healthy in {self.startup_timeout} s")

    def stop(self, timeout: float = 15) -> None:
        """Terminate the service (its whole process group), killing it if it lingers."""
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

    def log(self) -> str:
        """Everything the service wrote to its log."""
        return self.log_file.read_text(errors="replace")

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
        log = self.log()[-4000:]
        raise RuntimeError(f"{message}; log:\n{log}")
