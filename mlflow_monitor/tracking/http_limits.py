"""Bounded retries for the calls a check logger makes to an MLflow tracking server.

MLflow retries HTTP requests for minutes by default (7 retries with exponential backoff, a
120 s timeout) and has no per-client setting for it: it reads ``MLFLOW_HTTP_REQUEST_TIMEOUT``,
``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR`` and
``MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER`` from the environment on every request.
:func:`bounded_http` sets them (and ``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT``) for the duration
of a block, under a process-wide lock, and restores the caller's values afterwards. A refused
connection then fails in milliseconds and a hung server in about
``request_timeout * (max_retries + 1)`` seconds. MLflow calls made by other threads during that
window see the same settings.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

__all__ = ["bounded_http", "is_http"]

# os.environ is process-wide: the overrides are applied under this lock.
_ENV_LOCK = threading.RLock()


def is_http(tracking_uri: str) -> bool:
    """Whether ``tracking_uri`` is a tracking server's address (``http://``, ``https://``)."""
    return tracking_uri.startswith(("http://", "https://"))


@contextlib.contextmanager
def bounded_http(tracking_uri: str, request_timeout: int, max_retries: int) -> Iterator[None]:
    """Within the block, MLflow's requests to ``tracking_uri`` time out after
    ``request_timeout`` seconds and are retried ``max_retries`` times, without backoff waits
    or ``Retry-After``; a tracking URI that is not ``http(s)`` changes nothing."""
    if not is_http(tracking_uri):
        yield
        return
    overrides = {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(request_timeout),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(max_retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": "false",
        # set_terminated would print a "View run" link to stdout for every check
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    }
    with _ENV_LOCK:
        saved = {name: os.environ.get(name) for name in overrides}
        os.environ.update(overrides)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
