"""JSON over HTTP, each request on a new connection."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

__all__ = ["http_json", "post_json"]


def http_json(url: str, payload: Any = None, headers: dict[str, str] | None = None) -> Any:
    """GET (or POST ``payload`` as JSON) on a new connection; the decoded JSON answer."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data, {"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def post_json(url: str, payload: Any, timeout: float = 30) -> tuple[int, Any]:
    """POST ``payload`` as JSON on a new connection: the status and the decoded answer."""
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
