"""The ``mlflow-monitor`` command group: its global options, its commands and the entry point.

The commands are defined by what they act on: :mod:`~mlflow_monitor.cli.model_commands`
(registering, serving and comparing monitored versions),
:mod:`~mlflow_monitor.cli.monitor_commands` (a version's checks, traffic and labels) and
:mod:`~mlflow_monitor.cli.metrics_commands` (configuration for Grafana and Prometheus).
"""

from __future__ import annotations

import os
import sys

import click

from mlflow_monitor.cli import metrics_commands, model_commands, monitor_commands

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlflow-monitor")
@click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    default=None,
    help="MLflow tracking/registry URI (default: MLFLOW_TRACKING_URI, else MLflow's default).",
)
def cli(tracking_uri: str | None) -> None:
    """Monitor MLflow models in production: drift, performance, metrics, retraining."""
    if tracking_uri:
        # MLflow reads it on first use; commands that need no MLflow never import it.
        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri


for _command in (
    model_commands.wrap,
    model_commands.serve,
    model_commands.baselines,
    monitor_commands.check,
    monitor_commands.status,
    monitor_commands.feedback,
    monitor_commands.prune,
    monitor_commands.retrain,
    monitor_commands.report,
    metrics_commands.grafana_dashboard,
    metrics_commands.prometheus_rules,
):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(standalone_mode=True))
