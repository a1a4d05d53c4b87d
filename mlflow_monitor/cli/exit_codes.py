"""How ``mlflow-monitor`` commands end: their exit codes, and library errors as one line.

Every command exits 2 on an error: a :class:`~mlflow_monitor.exceptions.MonitorError` from the
library becomes a :class:`MonitorClickError`, printed as one line without a traceback (click's
own usage errors also exit 2). ``check`` exits 3 when it found drift, 4 when performance
degraded and 5 for both; ``feedback`` and ``retrain --wait`` exit 1 when some of their work was
refused or failed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from mlflow_monitor.exceptions import MonitorError

__all__ = [
    "EXIT_BOTH",
    "EXIT_DEGRADED",
    "EXIT_DRIFT",
    "EXIT_PARTIAL",
    "MonitorClickError",
    "check_exit_code",
    "reported",
]

EXIT_PARTIAL = 1
EXIT_DRIFT = 3
EXIT_DEGRADED = 4
EXIT_BOTH = 5


class MonitorClickError(click.ClickException):
    """A :class:`MonitorError` shown as one line, exit code 2."""

    exit_code = 2


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """Within the block, a :class:`MonitorError` ends the command as a
    :class:`MonitorClickError` with the same message (the error is its cause)."""
    try:
        yield
    except MonitorError as exc:
        raise MonitorClickError(str(exc)) from exc


def check_exit_code(drift_status: str, performance_status: str) -> int:
    """The exit code of ``check``: 0 when nothing was found, :data:`EXIT_DRIFT`,
    :data:`EXIT_DEGRADED` or :data:`EXIT_BOTH`."""
    found = (drift_status == "drift", performance_status == "degraded")
    codes = {(True, True): EXIT_BOTH, (True, False): EXIT_DRIFT, (False, True): EXIT_DEGRADED}
    return codes.get(found, 0)
