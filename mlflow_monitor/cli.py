"""The ``mlflow-monitor`` command line. Each command calls one library function."""

from __future__ import annotations

import json
import sys
from pathlib import Path
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
@click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    default=None,
    help="MLflow tracking/registry URI (default: MLFLOW_TRACKING_URI, else MLflow's default).",
)
def cli(tracking_uri: str | None) -> None:
    """Monitor MLflow models in production: drift, performance, metrics, retraining."""
    if tracking_uri:
        import mlflow

        mlflow.set_tracking_uri(tracking_uri)


@cli.command()
@click.argument("model_uri")
@click.option(
    "--reference",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Training inputs to compare live traffic with (.parquet or .csv).",
)
@click.option(
    "--baseline",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="JSON file with precision/recall/accuracy/f1_score from evaluation.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON file of monitor options.",
)
@click.option(
    "--name",
    default=None,
    help="Registered name of the monitored model (default: <name>-monitored).",
)
@click.option(
    "--features",
    type=click.Choice(["auto", "numeric", "pipeline", "function"]),
    default="auto",
    show_default=True,
    help="How drift features are extracted.",
)
@click.option(
    "--preprocess-fn",
    default=None,
    help="'package.module:function' turning model input into features.",
)
def wrap(
    model_uri: str,
    reference: str,
    baseline: str,
    config_file: str | None,
    name: str | None,
    features: str,
    preprocess_fn: str | None,
) -> None:
    """Register a monitored version of MODEL_URI (e.g. models:/reviews/3)."""
    from mlflow_monitor.registry import wrap as wrap_model

    try:
        config = json.loads(Path(config_file).read_text()) if config_file else None
        result = wrap_model(
            model_uri,
            reference,
            baseline,
            config,
            name,
            features=features,
            preprocess_fn=preprocess_fn,
        )
    except json.JSONDecodeError as exc:
        raise MonitorClickError(f"config file {config_file!r} is not JSON: {exc}") from exc
    except MonitorError as exc:
        raise MonitorClickError(str(exc)) from exc
    click.echo(f"Registered {result.uri} wrapping {model_uri}")
    click.echo(f"  drift features: {result.features}, {result.n_features} columns")
    click.echo(f"  load it with: mlflow.pyfunc.load_model({result.uri!r})")
    click.echo(f"  serve it with: mlflow models serve -m {result.uri} --env-manager local")


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
