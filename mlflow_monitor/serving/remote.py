"""Asking a running ``mlflow-monitor serve`` for its monitoring status over HTTP.

``mlflow-monitor status http://host:port`` reads ``GET /monitoring/status`` with the standard
library alone, so it answers in the time of one request, without importing MLflow.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from mlflow_monitor.exceptions import MonitorError
from mlflow_monitor.redaction import redact_uri

__all__ = ["STATUS_PATH", "fetch_status"]

STATUS_PATH = "/monitoring/status"


def fetch_status(url: str, token: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """The status a serving process reports (``GET <url>/monitoring/status``).

    Args:
        url: the server's base URL, e.g. ``http://127.0.0.1:5001`` (a URL that already ends
            in ``/monitoring/status`` is taken as it is).
        token: its bearer token (``MLFLOW_MONITOR_TOKEN``), when it requires one.
        timeout: seconds to wait for the answer.

    Raises:
        MonitorError: no answer, an error status, or a body that is not a status.
    """
    base = url.rstrip("/")
    endpoint = base if base.endswith(STATUS_PATH) else base + STATUS_PATH
    request = urllib.request.Request(endpoint, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    shown = redact_uri(endpoint)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        hint = " (set MLFLOW_MONITOR_TOKEN)" if exc.code == 401 else ""
        raise MonitorError(f"{shown} answered {exc.code} {exc.reason}{hint}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise MonitorError(f"cannot reach {shown}: {reason}") from exc
    try:
        report = json.loads(body)
    except ValueError as exc:
        raise MonitorError(f"{shown} did not answer with JSON") from exc
    if not isinstance(report, dict):
        raise MonitorError(f"{shown} did not answer with a status")
    return report
