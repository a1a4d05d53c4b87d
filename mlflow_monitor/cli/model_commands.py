"""The ``mlflow-monitor`` commands that register, serve and compare monitored model versions:
``wrap``, ``serve`` and ``baselines``."""

from __future__ import annotations

import os
from typing import Any

import click

from mlflow_monitor.cli.exit_codes import reported
from mlflow_monitor.cli.files import read_config, read_labels

__all__ = ["baselines", "serve", "wrap"]


@click.command()
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
    "monitor then estimates performance before labels arrive.",
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
    from mlflow_monitor.cli.tables import progress
    from mlflow_monitor.model.wrap import wrap as wrap_model

    if target and labels_file:
        raise click.UsageError("give --target or --labels, not both")
    if baseline is None and not (target or labels_file):
        raise click.UsageError("give --baseline, or --target/--labels to compute it")
    config = read_config(config_file)
    if task is not None:
        config = {**(config or {}), "task": task}
    reference_labels: Any = read_labels(labels_file) if labels_file else target
    with reported(), progress():
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
    click.echo(f"Registered {result.uri} wrapping {model_uri}")
    click.echo(f"  task: {result.task}")
    click.echo(f"  drift features: {result.features}, {result.n_features} columns")
    click.echo(f"  load it with: mlflow.pyfunc.load_model({result.uri!r})")
    click.echo(f"  serve it with: mlflow models serve -m {result.uri} --env-manager local")


@click.command()
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
    with reported():
        settings = ServeSettings(
            model_uri=model_uri,
            token=os.environ.get(TOKEN_ENV),
            max_body_bytes=int(max_body_mb * 1024 * 1024),
            schedule_checks=not no_checks,
            max_rows=max_rows,
        )
        run_server(settings, host=host, port=port, workers=workers, log_level=log_level)


@click.command()
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

    with reported():
        frame = compare_baselines(name)
    if frame.empty:
        click.echo(f"{name} has no versions")
    elif fmt == "csv":
        click.echo(frame.to_csv(), nl=False)
    elif fmt == "json":
        click.echo(frame.reset_index().to_json(orient="records", indent=2))
    else:
        from mlflow_monitor.cli.tables import (
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
