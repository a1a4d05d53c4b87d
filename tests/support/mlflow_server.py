"""A real ``mlflow server`` in a subprocess, for tests that need MLflow over HTTP.

The server keeps its SQLite backend store and proxied artifacts under ``root``, so it can be
stopped and started again on the same port with its data intact (to test an unreachable
tracking server that comes back).
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.processes import ServiceProcess, answers_200

__all__ = ["MlflowServer"]


class MlflowServer(ServiceProcess):
    """Start, stop and restart ``mlflow server`` on one port.

    Args:
        root: directory for ``mlflow.db``, ``artifacts/`` and ``server.log``.
        port: port to listen on (default: a free one, kept across restarts).
        startup_timeout: seconds to wait for ``GET /health`` to answer.
    """

    name = "mlflow server"

    def __init__(self, root: Path, port: int | None = None, startup_timeout: float = 90) -> None:
        super().__init__(root, port=port, startup_timeout=startup_timeout)

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

    def healthy(self) -> bool:
        """Whether ``GET /health`` answers 200 now."""
        return answers_200(f"{self.uri}/health")
