"""The ``mlflow-monitor`` command line. Each command calls one library function."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from mlflow_monitor.exceptions import MonitorError

__all__ = ["cli", "main"]


class MonitorClickError(click.ClickException):
    """A :class:`MonitorError` shown as one line, exit code 2."""

    exit_code = 2


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
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="JSON file with the task's metrics from evaluation (binary: precision/recall/"
    "accuracy/f1_score; multiclass: accuracy/macro_f1/...; regression: mae/rmse/r2/mape). "
    "Not needed with --target or --labels: computed from the reference's labels.",
)
@click.option(
    "--target",
    default=None,
    help="Column of the reference file holding the true labels (not a model input): the "
    "monitor then estimates performance before labels arrive (binary models).",
)
@click.option(
    "--labels",
    "labels_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="CSV or parquet file of the reference rows' true labels, one column, in order "
    "(instead of --target).",
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
    type=click.Choice(["auto", "numeric", "pipeline", "tabular", "function"]),
    default="auto",
    show_default=True,
    help="How drift features are extracted.",
)
@click.option(
    "--preprocess-fn",
    default=None,
    help="'package.module:function' turning model input into features.",
)
@click.option(
    "--task",
    type=click.Choice(["binary", "multiclass", "regression"]),
    default=None,
    help="What the model predicts (default: the config's task, else inferred from the "
    "model's output on the reference).",
)
def wrap(
    model_uri: str,
    reference: str,
    baseline: str | None,
    target: str | None,
    labels_file: str | None,
    config_file: str | None,
    name: str | None,
    features: str,
    preprocess_fn: str | None,
    task: str | None,
) -> None:
    """Register a monitored version of MODEL_URI (e.g. models:/reviews/3)."""
    from mlflow_monitor.cli_tables import progress
    from mlflow_monitor.model.wrap import wrap as wrap_model

    if target and labels_file:
        raise click.UsageError("give --target or --labels, not both")
    if baseline is None and not (target or labels_file):
        raise click.UsageError("give --baseline, or --target/--labels to compute it")
    try:
        config = json.loads(Path(config_file).read_text()) if config_file else None
        if task is not None:
            config = {**(config or {}), "task": task}
        reference_labels: Any = target
        if labels_file:
            reference_labels = _read_labels(labels_file)
        with progress():
            result = wrap_model(
                model_uri,
                reference,
                baseline,
                config,
                name,
                features=features,
                preprocess_fn=preprocess_fn,
                reference_labels=reference_labels,
            )
    except json.JSONDecodeError as exc:
        raise MonitorClickError(f"config file {config_file!r} is not JSON: {exc}") from exc
    except MonitorError as exc:
        raise MonitorClickError(str(exc)) from exc
    click.echo(f"Registered {result.uri} wrapping {model_uri}")
    click.echo(f"  task: {result.task}")
    click.echo(f"  drift features: {result.features}, {result.n_features} columns")
    click.echo(f"  load it with: mlflow.pyfunc.load_model({result.uri!r})")
    click.echo(f"  serve it with: mlflow models serve -m {result.uri} --env-manager local")


def _read_labels(path: str) -> list[Any]:
    """The one column of a CSV or parquet labels file."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    except Exception as exc:  # pandas and pyarrow raise many kinds for a bad file
        raise MonitorClickError(f"cannot read the labels file {path!r}: {exc}") from exc
    if frame.shape[1] != 1:
        raise MonitorClickError(
            f"the labels file {path!r} must have one column, it has {frame.shape[1]}"
        )
    return list(frame.iloc[:, 0])


EXIT_DRIFT = 3
EXIT_DEGRADED = 4
EXIT_BOTH = 5


@cli.command()
@click.argument("model_uri")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes; all record into the shared inference store.",
)
@click.option(
    "--store-uri",
    default=None,
    help="Inference store URL (e.g. postgresql+psycopg://...); default as for the model.",
)
@click.option(
    "--max-body-mb",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Largest request body accepted, in MiB.",
)
@click.option(
    "--max-rows",
    default=None,
    type=click.IntRange(min=1),
    help="Most rows per prediction request (default: a tenth of store_queue_size, 10,000).",
)
@click.option(
    "--no-checks",
    is_flag=True,
    help="Only record; run the periodic checks elsewhere (e.g. `mlflow-monitor check`).",
)
@click.option("--log-level", default="info", show_default=True)
def serve(
    model_uri: str,
    host: str,
    port: int,
    workers: int,
    store_uri: str | None,
    max_body_mb: float,
    max_rows: int | None,
    no_checks: bool,
    log_level: str,
) -> None:
    """Serve MODEL_URI over HTTP with monitoring.

    MLflow's scoring protocol (/invocations, /ping, /health) plus /predict, /metrics and the
    /monitoring/* endpoints. Set MLFLOW_MONITOR_TOKEN to require a bearer token for
    feedback and retraining triggers.
    """

    from mlflow_monitor.model.pyfunc import STORE_URI_ENV
    from mlflow_monitor.serving.server import serve as run_server
    from mlflow_monitor.serving.settings import TOKEN_ENV, ServeSettings

    if store_uri:
        os.environ[STORE_URI_ENV] = store_uri
    try:
        settings = ServeSettings(
            model_uri=model_uri,
            token=os.environ.get(TOKEN_ENV),
            max_body_bytes=int(max_body_mb * 1024 * 1024),
            schedule_checks=not no_checks,
            max_rows=max_rows,
        )
        run_server(settings, host=host, port=port, workers=workers, log_level=log_level)
    except MonitorError as exc:
        raise MonitorClickError(str(exc)) from exc


def _load_monitored(model_uri: str) -> Any:
    """The MonitoredModel behind a registered monitored version, without periodic checks."""
    from mlflow_monitor.cli_tables import progress
    from mlflow_monitor.model.loading import load_monitored_model

    try:
        with progress():
            model = load_monitored_model(model_uri, schedule_checks=False)
    except MonitorError as exc:
        raise MonitorClickError(str(exc)) from exc
    return model.unwrap_python_model()


@cli.command()
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
        results = [monitor.check_drift(), monitor.check_performance()]
    except MonitorError as exc:
        raise MonitorClickError(str(exc)) from exc
    finally:
        monitor.close()
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        from mlflow_monitor.cli_tables import checks_table, print_table

        print_table(checks_table(results))
    found = (results[0].status == "drift", results[1].status == "degraded")
    codes = {(True, True): EXIT_BOTH, (True, False): EXIT_DRIFT, (False, True): EXIT_DEGRADED}
    sys.exit(codes.get(found, 0))


@cli.command()
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
    try:
        report = _status_of(target, store_uri)
    except MonitorError as exc:
        raise MonitorClickError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        from mlflow_monitor.cli_tables import print_table, status_table

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


@cli.command()
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
        try:
            pairs = read_feedback_csv(csv_file)
        except MonitorError as exc:
            raise MonitorClickError(str(exc)) from exc
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
        sys.exit(1)


@cli.command()
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
        deleted = monitor.prune(older_than_days)
    except MonitorError as exc:
        raise MonitorClickError(str(exc)) from exc
    finally:
        monitor.close()
    click.echo(f"deleted {deleted} predictions")


@cli.command()
@click.argument("name")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
def baselines(name: str, fmt: str) -> None:
    """Compare baseline and live metrics across the versions of registered model NAME."""
    from mlflow_monitor.model.baselines import compare_baselines

    try:
        frame = compare_baselines(name)
    except MonitorError as exc:
        raise MonitorClickError(str(exc)) from exc
    if frame.empty:
        click.echo(f"{name} has no versions")
    elif fmt == "csv":
        click.echo(frame.to_csv(), nl=False)
    elif fmt == "json":
        click.echo(frame.reset_index().to_json(orient="records", indent=2))
    else:
        from mlflow_monitor.cli_tables import (
            baselines_stacked,
            baselines_table,
            print_wide_or_stacked,
        )

        table = frame.reset_index()
        rows = table.astype(object).where(table.notna(), None).to_dict("records")
        names = [
            str(c).removeprefix("baseline_") for c in frame.columns if c.startswith("baseline_")
        ]
        print_wide_or_stacked(baselines_table(rows, names), baselines_stacked(rows, names))


@cli.command()
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
            sys.exit(1)


@cli.command()
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
    from mlflow_monitor.cli_tables import progress
    from mlflow_monitor.model.reports import fetch_report

    try:
        with progress():
            text = fetch_report(model_uri, check_run)
    except MonitorError as exc:
        raise MonitorClickError(str(exc)) from exc
    _write_output(text, output)


def _write_output(text: str, output: str) -> None:
    """Write generated text to ``output``, or to stdout for ``-``."""
    if output == "-":
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise MonitorClickError(f"cannot write {output!r}: {exc}") from exc
    click.echo(f"wrote {output}", err=True)


_PREFIX_HELP = "Metric name prefix (the monitor's metrics_prefix) [default: fake_review_detection]."
_OUTPUT = click.option(
    "--output",
    "-o",
    default="-",
    show_default=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="File to write; - for stdout.",
)


@cli.command("grafana-dashboard")
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
    try:
        model = dashboards.grafana_dashboard(prefix or dashboards.DEFAULT_PREFIX, title=title)
    except MonitorError as exc:
        raise MonitorClickError(str(exc)) from exc
    _write_output(dashboards.dashboard_json(model), output)


@cli.command("prometheus-rules")
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

    try:
        rules = alerts.prometheus_rules(
            prefix or DEFAULT_PREFIX,
            job=job,
            model_name=model_name,
            no_predictions_minutes=no_predictions_minutes,
            for_minutes=for_minutes,
        )
    except MonitorError as exc:
        raise MonitorClickError(str(exc)) from exc
    _write_output(alerts.rules_yaml(rules), output)


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(standalone_mode=True))


if __name__ == "__main__":
    main()
