"""``python -m mlflow_monitor.cli``: the ``mlflow-monitor`` command."""

from __future__ import annotations

from mlflow_monitor.cli.group import main

main()
