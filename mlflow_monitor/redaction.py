"""Keeping passwords out of what leaves the process: logs, status, MLflow runs and artifacts.

A database or tracking URL may carry a password (``postgresql+psycopg://user:secret@host/db``,
``https://user:token@mlflow.example.com``) or a password query parameter (``?password=...``).
Wherever such a URL is shown or written, :func:`redact_uri` (one URL) or :func:`redact_text`
(any text that may contain URLs, such as an exception message) replaces the secret with
``***``; :func:`redact_config` does it for the URL options of a config dict.

The user name and host stay visible, so an operator can still tell which database is meant.
A secret given as the user name alone (``https://TOKEN@host``) is not recognised: pass
credentials through the environment (``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``,
``MLFLOW_MONITOR_STORE_URI``) rather than on command lines or in saved configs.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MASK",
    "URI_OPTIONS",
    "describe_exception",
    "redact_config",
    "redact_text",
    "redact_uri",
]

MASK = "***"
# Config options that hold URLs.
URI_OPTIONS = ("store_uri", "tracking_uri", "retrain_project_uri")

# scheme://user:password@ ; the password runs to the last "@" before the path, so an
# unescaped "@" in it is masked too.
_USERINFO = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@\s]*):(?P<password>[^/?#\s]*)@"
)
_SECRET_PARAM = re.compile(
    r"(?P<head>[?&;](?:password|passwd|pwd|pass|token|access_token|secret|api_key|apikey)=)"
    r"(?P<value>[^&;#\s]*)",
    re.IGNORECASE,
)


def redact_text(text: str) -> str:
    """``text`` with the password of every URL in it, and secret query parameters, masked."""
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _SECRET_PARAM.sub(lambda m: f"{m['head']}{MASK}", text)


def redact_uri(uri: str) -> str:
    """One URL with its password (and any secret query parameter) replaced by ``***``."""
    return redact_text(uri)


def redact_config(options: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a config dict whose URL options (:data:`URI_OPTIONS`) are redacted."""
    data = dict(options)
    for key in URI_OPTIONS:
        value = data.get(key)
        if isinstance(value, str):
            data[key] = redact_uri(value)
    return data


def describe_exception(exc: BaseException, with_traceback: bool = False) -> str:
    """``"Type: message"`` (or the whole traceback) of an exception, redacted: exceptions
    of HTTP and database clients quote the URL they failed on, password included."""
    if with_traceback:
        return redact_text("".join(traceback.format_exception(exc)).rstrip())
    return redact_text(f"{type(exc).__name__}: {exc}")
