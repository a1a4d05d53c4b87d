"""The ``mlflow-monitor`` commands that write configuration for monitoring systems:
``grafana-dashboard`` (a Grafana dashboard) and ``prometheus-rules`` (Prometheus alerting
rules), for the metrics of monitors with one prefix."""

from __future__ import annotations

import click

from mlflow_monitor.cli.exit_codes import reported
from mlflow_monitor.cli.files import write_output

__all__ = ["grafana_dashboard", "prometheus_rules"]

_PREFIX_HELP = "Metric name prefix (the monitor's metrics_prefix) [default: fake_review_detection]."
_OUTPUT = click.option(
    "--output",
    "-o",
    default="-",
    show_default=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="File to write; - for stdout.",
)


@click.command("grafana-dashboard")
@click.option("--prefix", default=None, help=_PREFIX_HELP)
@click.option("--title", default=None, help="Dashboard title [default: MLflow monitor: PREFIX].")
@click.option("--baseline", hidden=True, default=None)
@click.option("--performance-threshold", hidden=True, default=None)
@click.option("--drift-p-value", hidden=True, default=None)
@_OUTPUT
def grafana_dashboard(
    prefix: str | None,
    title: str | None,
    baseline: str | None,
    performance_threshold: str | None,
    drift_p_value: str | None,
    output: str,
) -> None:
    """Write a Grafana dashboard (JSON) for the metrics of monitors with one prefix.

    Baselines and thresholds come from the monitors' own gauges, per model version.
    """
    from mlflow_monitor.metrics import grafana as dashboards

    given = [
        flag
        for flag, value in (
            ("--baseline", baseline),
            ("--performance-threshold", performance_threshold),
            ("--drift-p-value", drift_p_value),
        )
        if value is not None
    ]
    if given:
        raise click.UsageError(
            f"{', '.join(given)}: not needed any more; the dashboard reads each version's "
            "baseline and thresholds from the <prefix>_baseline, <prefix>_performance_threshold "
            "and <prefix>_drift_p_value_threshold gauges"
        )
    with reported():
        model = dashboards.grafana_dashboard(prefix or dashboards.DEFAULT_PREFIX, title=title)
    write_output(dashboards.dashboard_json(model), output)


@click.command("prometheus-rules")
@click.option("--prefix", default=None, help=_PREFIX_HELP)
@click.option(
    "--job",
    default="mlflow-monitor",
    show_default=True,
    help="Prometheus job that scrapes the monitor (for up == 0).",
)
@click.option("--model-name", default=None, help="How alerts name the model [default: PREFIX].")
@click.option(
    "--no-predictions-minutes",
    default=30,
    show_default=True,
    type=click.IntRange(min=1),
    help="Alert when a target that is up recorded no prediction for this long.",
)
@click.option(
    "--for-minutes",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="How long a condition must hold before its alert fires.",
)
@_OUTPUT
def prometheus_rules(
    prefix: str | None,
    job: str,
    model_name: str | None,
    no_predictions_minutes: int,
    for_minutes: int,
    output: str,
) -> None:
    """Write Prometheus alerting rules (YAML) for the metrics of one monitor."""
    from mlflow_monitor.metrics import alerts
    from mlflow_monitor.metrics.grafana import DEFAULT_PREFIX

    with reported():
        rules = alerts.prometheus_rules(
            prefix or DEFAULT_PREFIX,
            job=job,
            model_name=model_name,
            no_predictions_minutes=no_predictions_minutes,
            for_minutes=for_minutes,
        )
    write_output(alerts.rules_yaml(rules), output)
