"""The ``mlflow-monitor`` commands that act on a monitored version's checks, traffic and labels:
``check``, ``status``, ``feedback``, ``prune``, ``retrain`` and ``report``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from mlflow_monitor.cli.exit_codes import (
    EXIT_PARTIAL,
    MonitorClickError,
    check_exit_code,
    reported,
)
from mlflow_monitor.cli.files import write_output
from mlflow_monitor.exceptions import MonitorError

__all__ = ["check", "feedback", "prune", "report", "retrain", "status"]


def _load_monitored(model_uri: str) -> Any:
    """The MonitoredModel behind a registered monitored version, without periodic checks."""
    from mlflow_monitor.cli.tables import progress
    from mlflow_monitor.model.loading import load_monitored_model

    with reported(), progress():
        model = load_monitored_model(model_uri, schedule_checks=False)
    return model.unwrap_python_model()


@click.command()
@click.argument("model_uri")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def check(model_uri: str, as_json: bool) -> None:
    """Run the drift and performance checks of MODEL_URI once, on recorded traffic.

    Each check that runs is logged as an MLflow run. Exit codes: 0 nothing found,
    3 drift, 4 performance degraded, 5 both, 2 error.
    """
    monitored = _load_monitored(model_uri)
    monitor = monitored.monitor
    try:
        with reported():
            results = [monitor.check_drift(), monitor.check_performance()]
    finally:
        monitor.close()
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        from mlflow_monitor.cli.tables import checks_table, print_table

        print_table(checks_table(results))
    sys.exit(check_exit_code(results[0].status, results[1].status))


@click.command()
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the full status as JSON.")
@click.option(
    "--store-uri",
    default=None,
    help="Inference store to read for a model URI (default: the one its servers use).",
)
def status(target: str, as_json: bool, store_uri: str | None) -> None:
    """Show the monitoring status of TARGET; reads only, never writes.

    TARGET is a monitored model URI (models:/NAME/VERSION: read from the inference store its
    serving processes share, without loading the model), the URL of a running
    `mlflow-monitor serve` (http://HOST:PORT, with MLFLOW_MONITOR_TOKEN if it needs one), or
    a saved state file.
    """
    with reported():
        report = _status_of(target, store_uri)
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        from mlflow_monitor.cli.tables import print_table, status_table

        print_table(status_table(report))


def _status_of(target: str, store_uri: str | None) -> dict[str, Any]:
    """The status report of a serve URL, a state file or a monitored model URI."""
    if target.startswith(("http://", "https://")):
        from mlflow_monitor.serving.remote import fetch_status
        from mlflow_monitor.serving.settings import TOKEN_ENV

        return fetch_status(target, os.environ.get(TOKEN_ENV) or None)
    if Path(target).is_file() or target.endswith(".npz"):
        from mlflow_monitor.monitor import load_monitor

        monitor = load_monitor(target, enable_prometheus=False)
        try:
            return monitor.get_monitoring_status()
        finally:
            monitor.close()
    from mlflow_monitor.model.status import monitored_status

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return monitored_status(target, store_uri)


@click.command()
@click.argument("model_uri")
@click.option("--id", "prediction_id", default=None, help="Prediction id to label.")
@click.option("--label", default=None, help="True label of that prediction.")
@click.option(
    "--file",
    "csv_file",
    type=click.Path(exists=True, dir_okay=False),
    help="CSV with columns prediction_id,true_label.",
)
def feedback(
    model_uri: str, prediction_id: str | None, label: str | None, csv_file: str | None
) -> None:
    """Record ground truth for predictions MODEL_URI made (one id, or a CSV of them).

    Exits 1 when some labels were rejected (unknown or already labelled ids), 2 when the
    input is unusable (a malformed CSV: nothing is recorded then).
    """
    from mlflow_monitor.monitor.feedback_file import parse_label, read_feedback_csv

    if csv_file:
        with reported():
            pairs = read_feedback_csv(csv_file)
    elif prediction_id is not None and label is not None:
        pairs = [(prediction_id, parse_label(label))]
    else:
        raise click.UsageError("give --id and --label, or --file")
    monitor = _load_monitored(model_uri).monitor
    failed: list[str] = []
    try:
        for pid, truth in pairs:
            try:
                monitor.record_feedback(str(pid), truth)
            except MonitorError as exc:
                failed.append(f"{pid}: {exc}")
    finally:
        monitor.close()
    click.echo(f"recorded {len(pairs) - len(failed)} of {len(pairs)} labels")
    for line in failed[:20]:
        click.echo(f"  rejected {line}", err=True)
    if failed:
        sys.exit(EXIT_PARTIAL)


@click.command()
@click.argument("model_uri")
@click.option(
    "--older-than-days",
    type=click.FloatRange(min=0),
    default=None,
    help="Age limit in days (default: the model's store_retention_days).",
)
def prune(model_uri: str, older_than_days: float | None) -> None:
    """Delete predictions of MODEL_URI older than a number of days from its inference store.

    The serving leader does this on its own every hour with store_retention_days; use this
    command with `serve --no-checks`, or to free space at once.
    """
    monitor = _load_monitored(model_uri).monitor
    try:
        with reported():
            deleted = monitor.prune(older_than_days)
    finally:
        monitor.close()
    click.echo(f"deleted {deleted} predictions")


@click.command()
@click.argument("model_uri")
@click.option(
    "--project-uri",
    default=None,
    help="MLflow project to run (default: the model's retrain_project_uri).",
)
@click.option("--reason", default="manual", show_default=True)
@click.option("--wait/--no-wait", default=False, help="Wait for the run to finish.")
def retrain(model_uri: str, project_uri: str | None, reason: str, wait: bool) -> None:
    """Launch the retraining project run for MODEL_URI now."""
    from mlflow_monitor.monitor.wiring import project_launcher

    monitor = _load_monitored(model_uri).monitor
    monitor.close()
    launcher = project_launcher(monitor.config, project_uri)
    if launcher is None:
        raise MonitorClickError(
            "no project to run: pass --project-uri or set retrain_project_uri when wrapping"
        )
    try:
        run_id = launcher(reason, {"triggered_by": "cli", "model_uri": model_uri})
    except Exception as exc:
        raise MonitorClickError(f"cannot launch the retraining run: {exc}") from exc
    click.echo(f"launched retraining run {run_id}")
    if wait:
        final = launcher.wait()
        click.echo(f"run {run_id} ended: {final}")
        if final != "FINISHED":
            sys.exit(EXIT_PARTIAL)


@click.command()
@click.argument("model_uri")
@click.option("--check", "check_run", default=None, help="A check run's id (default: the latest).")
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="HTML file to write; - for stdout.",
)
def report(model_uri: str, check_run: str | None, output: str) -> None:
    """Write the HTML report of a check of MODEL_URI (open it in a browser)."""
    from mlflow_monitor.cli.tables import progress
    from mlflow_monitor.model.reports import fetch_report

    with reported(), progress():
        text = fetch_report(model_uri, check_run)
    write_output(text, output)
