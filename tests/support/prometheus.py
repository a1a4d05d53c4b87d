"""A private Prometheus in a subprocess, on a loopback port."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

from tests.support.http import http_json
from tests.support.processes import ServiceProcess, answers_200
from tests.support.services import require_executable

__all__ = ["PrometheusServer"]


class PrometheusServer(ServiceProcess):
    """A private Prometheus that scrapes ``targets`` every second under job ``job``.

    Skips the test (fails it under ``CI=true``) when ``prometheus`` is not installed.
    """

    name = "prometheus"

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
        """Whether ``GET /-/ready`` answers 200 now."""
        return answers_200(f"{self.uri}/-/ready")

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant vector of a PromQL expression (empty when nothing matches yet)."""
        url = f"{self.uri}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        answer = http_json(url)
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])
