"""Keeping passwords out of what leaves the process: logs, status, MLflow runs and artifacts.

A database or tracking URL may carry a password (``postgresql+psycopg://user:secret@host/db``,
``https://user:token@mlflow.example.com``) or a password query parameter (``?password=...``).
Wherever such a URL is shown or written, :func:`redact_uri` (one URL) or :func:`redact_text`
(any text that may contain URLs, such as an exception message) replaces the secret with
``***``; :func:`redact_config` does it for the URL options of a config dict.

The user name and host stay visible, so an operator can still tell which database is meant,
except where the user name is itself the secret: a bare user name in an ``http(s)`` URL
(``https://TOKEN@host``, the usual way of passing a token in a URL) and a bare user name that
looks like a token (20 or more letters, digits, ``-``, ``_`` or ``.``) in any URL are masked.
Still, pass credentials through the environment (``MLFLOW_TRACKING_USERNAME``/
``MLFLOW_TRACKING_PASSWORD``, ``MLFLOW_MONITOR_STORE_URI``) rather than on command lines or in
saved configs.

:class:`SecretFilter` applies the same to log records, and also masks given secret values
wherever they appear (the serve app installs it on uvicorn's loggers, so a bearer token sent by
mistake in a query string never reaches the access log).
"""

from __future__ import annotations

import logging
import re
import traceback
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MASK",
    "URI_OPTIONS",
    "SecretFilter",
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
# scheme://user@ with no password: the user name is the secret in http(s) URLs, and in any URL
# when it looks like a token.
_BARE_USER = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*)://(?P<user>[^:/?#@\s]+)@(?=[^\s@]*(?:[/?#\s]|$))"
)
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-.~%]{20,}")
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
    text = _BARE_USER.sub(_mask_bare_user, text)
    return _SECRET_PARAM.sub(lambda m: f"{m['head']}{MASK}", text)


def _mask_bare_user(match: re.Match[str]) -> str:
    scheme, user = match["scheme"], match["user"]
    if user == MASK:
        return match[0]
    if scheme.lower() in ("http", "https") or _TOKEN_LIKE.fullmatch(user):
        return f"{scheme}://{MASK}@"
    return match[0]


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


class SecretFilter(logging.Filter):
    """A logging filter that redacts every record's message and arguments
    (:func:`redact_text`) and masks the given secret values, as typed or percent-encoded.

    Args:
        secrets: values that must never be logged (the serve app's bearer token).
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        values = {s for s in secrets if s}
        values |= {urllib.parse.quote(s, safe="") for s in values}
        values |= {urllib.parse.quote_plus(s) for s in values}
        self.secrets = tuple(sorted(values, key=len, reverse=True))

    def clean(self, text: str) -> str:
        """``text`` redacted and with every secret value masked."""
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return redact_text(text)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self.clean(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {
                k: self.clean(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True
