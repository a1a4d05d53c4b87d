"""``mlflow-monitor serve`` as a real subprocess, on a loopback port."""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

from tests.support.processes import ServiceProcess, answers_200

__all__ = ["MonitorServer"]


class MonitorServer(ServiceProcess):
    """``mlflow-monitor serve MODEL_URI`` with extra options and environment.

    Args:
        root: directory for ``server.log``.
        model_uri: the monitored model.
        args: more command-line options (``--workers 2``, ``--store-uri ...``).
        env: environment on top of this process's (the venv's bin goes first on PATH).
    """

    name = "mlflow-monitor serve"

    def __init__(
        self,
        root: Path,
        model_uri: str,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(
            root,
            port=port,
            startup_timeout=180,
            env={
                **os.environ,
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                **(env or {}),
            },
        )
        self.model_uri = model_uri
        self.args = list(args or [])

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "mlflow_monitor.cli",
            "serve",
            self.model_uri,
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            *self.args,
        ]

    def healthy(self) -> bool:
        """Whether ``GET /health`` answers 200 now."""
        return answers_200(f"{self.uri}/health")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.uri}/metrics", timeout=30) as response:
            return str(response.read().decode())
