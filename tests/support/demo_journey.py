"""The journey of ``make demo`` (examples/mlflow_journey.py), run in the background.

The browser tests look at the store the journey makes. The journey takes about two minutes,
most of it spent waiting on the processes it starts (``mlflow run``, ``mlflow-monitor serve``
and ``check``); started when the tests are collected, it runs beside the in-process tests
that come first, and the browser tests, collected last, wait for it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.paths import REPO

JOURNEY = REPO / "examples" / "mlflow_journey.py"
# The journey honours a tracking or inference store named in the environment; it gets its own.
_STORE_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_MONITOR_STORE_URI")


class BackgroundJourney:
    """One run of the demo's journey in a subprocess of its own, into a temporary directory."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mlflow-monitor-demo-"))
        self.output = self.root / "demo"
        self._log = self.root / "journey-output.txt"
        env = {k: v for k, v in os.environ.items() if k not in _STORE_VARIABLES}
        with self._log.open("w") as log:
            # a session of its own, so that stop() reaches the servers and runs it started
            self._process = subprocess.Popen(
                [sys.executable, str(JOURNEY), "--output-dir", str(self.output)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env=env,
                start_new_session=True,
            )

    def wait(self, timeout: float = 900) -> Path:
        """The journey's output directory once it has finished; raises if it failed."""
        try:
            code = self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"the demo journey ran past {timeout:.0f} s") from None
        if code != 0:
            tail = self._log.read_text(errors="replace")[-4000:]
            raise AssertionError(f"the demo journey exited {code}:\n{tail}")
        return self.output

    def stop(self) -> None:
        """Stop the journey (and what it started) if it is still running; remove its files."""
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


# where tests/conftest.py keeps the session's journey, for the browser tests' ``demo_store``
DEMO_JOURNEY = pytest.StashKey[BackgroundJourney]()
