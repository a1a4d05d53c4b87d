"""The ``mlflow-monitor`` command line. Each command calls one library function.

:mod:`~mlflow_monitor.cli.group` holds the command group and :func:`main`, the console-script
entry point; the commands are in ``model_commands``, ``monitor_commands`` and
``metrics_commands``; :mod:`~mlflow_monitor.cli.exit_codes` says how a command ends (the only
place a :class:`~mlflow_monitor.exceptions.MonitorError` becomes a click error),
:mod:`~mlflow_monitor.cli.files` reads and writes the files commands take and make, and
:mod:`~mlflow_monitor.cli.tables` prints tables and progress lines for people.
"""

from __future__ import annotations

from mlflow_monitor.cli.exit_codes import (
    EXIT_BOTH,
    EXIT_DEGRADED,
    EXIT_DRIFT,
    MonitorClickError,
)
from mlflow_monitor.cli.group import cli, main

__all__ = ["EXIT_BOTH", "EXIT_DEGRADED", "EXIT_DRIFT", "MonitorClickError", "cli", "main"]
