"""The ``mlflow-monitor`` command line. Each command calls one library function."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from mlflow_monitor.exceptions import MonitorError

__all__ = ["cli", "main"]


class MonitorClickError(click.ClickException):
    """A :class:`MonitorError` shown as one line, exit code 2."""

    exit_code = 2


def _status_lines(status: dict[str, Any]) -> list[str]:
    counts = status["counts"]
    drift = status["drift"]["last_check"]
    perf = status["performance"]["current"] or {}
    lines = [
        f"predictions recorded : {counts['predictions']}",
        f"labels recorded      : {counts['feedback']}",
        f"drift rows pending   : {counts['pending_drift_rows']}",
        f"reference rows       : {status['drift']['reference_size']}",
        f"drift detected       : {status['drift_detected']}"
        + (f" (p={drift['drift']['p_value']:.4g})" if drift and drift.get("drift") else ""),
        f"performance degraded : {status['performance_degraded']}",
    ]
    if perf.get("n_samples"):
        metrics = ", ".join(
            f"{k}={perf[k]:.3f}" for k in ("precision", "recall", "accuracy", "f1_score")
        )
        lines.append(f"live metrics         : {metrics} over {perf['n_samples']} labels")
    lines.append(f"retraining triggers  : {status['triggers']['total']}")
    for event in status["triggers"]["history"][-5:]:
        lines.append(f"  {event['timestamp']}  {event['reason']}")
    return lines


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlflow-monitor")
def cli() -> None:
    """Monitor MLflow models in production: drift, performance, metrics, retraining."""


@cli.command()
@click.argument("state_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the full status as JSON.")
def status(state_file: str, as_json: bool) -> None:
    """Show the monitoring status stored in STATE_FILE (written by save_state)."""
    from mlflow_monitor.state import load_monitor

    try:
        report = load_monitor(state_file, enable_prometheus=False).get_monitoring_status()
    except MonitorError as exc:
        raise MonitorClickError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        click.echo("\n".join(_status_lines(report)))


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(standalone_mode=True))


if __name__ == "__main__":
    main()
