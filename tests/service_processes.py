"""`mlflow-monitor serve` and Prometheus as real subprocesses, on loopback ports.

Both reuse :class:`mlflow_server.MlflowServer`'s start/stop/restart (own process group, log
file under ``root``, wait until healthy) with their own command line and readiness URL.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from mlflow_server import MlflowServer
from services import require_executable

__all__ = ["MonitorServer", "PrometheusServer", "http_json"]


def http_json(url: str, payload: Any = None, headers: dict[str, str] | None = None) -> Any:
    """GET (or POST ``payload`` as JSON) on a new connection; the decoded JSON answer."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data, {"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class MonitorServer(MlflowServer):
    """``mlflow-monitor serve MODEL_URI`` with extra options and environment.

    Args:
        root: directory for ``server.log``.
        model_uri: the monitored model.
        args: more command-line options (``--workers 2``, ``--store-uri ...``).
        env: environment on top of this process's (the venv's bin goes first on PATH).
    """

    def __init__(
        self,
        root: Path,
        model_uri: str,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(root, port=port, startup_timeout=180)
        self.model_uri = model_uri
        self.args = list(args or [])
        self.env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            **(env or {}),
        }

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

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.uri}/metrics", timeout=30) as response:
            return str(response.read().decode())

    def log(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")


class PrometheusServer(MlflowServer):
    """A private Prometheus that scrapes ``targets`` every second under job ``job``."""

    def __init__(self, root: Path, targets: list[str], job: str = "mlflow-monitor") -> None:
        super().__init__(root, startup_timeout=60)
        self.binary = require_executable("prometheus", "prometheus")
        self.targets = targets
        self.job = job

    def command(self) -> list[str]:
        config = self.root / "prometheus.yml"
        scrape = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": self.job, "static_configs": [{"targets": self.targets}]}
            ],
        }
        config.write_text(json.dumps(scrape))  # JSON is YAML
        return [
            self.binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.root / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant vector of a PromQL expression (empty when nothing matches yet)."""
        url = f"{self.uri}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        answer = http_json(url)
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])
