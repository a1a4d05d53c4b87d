"""The baselines table: one row per version of a registered model, baseline beside live."""

from __future__ import annotations

from typing import Any

from mlflow_monitor.exceptions import MonitorError
from mlflow_monitor.model.refs import ModelRef, parse_model_uri
from mlflow_monitor.results.parsing import optional_float
from mlflow_monitor.tracking.names import drift_key, performance_key
from mlflow_monitor.tracking.registry import BASELINE_TAG_PREFIX, TAG_INNER_URI

__all__ = ["compare_baselines"]


def _latest_check(client: Any, experiment_id: str, stream: ModelRef, kind: str) -> Any | None:
    runs = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`mlflow_monitor.role` = 'check' "
            f"and tags.`mlflow_monitor.check` = '{kind}' "
            f"and tags.`mlflow_monitor.model_name` = '{stream.name}' "
            f"and tags.`mlflow_monitor.model_version` = '{stream.version}' "
            f"and tags.`mlflow_monitor.outcome` != 'skipped'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def _metric(run: Any | None, key: str, legacy: str) -> float | None:
    """A check run's metric, under its grouped key or the name runs logged before it."""
    if run is None:
        return None
    metrics = run.data.metrics
    value = metrics.get(key, metrics.get(legacy))
    return optional_float(value)


def compare_baselines(name: str, experiment_name: str | None = None) -> Any:
    """One row per version of a registered model: baseline, live metrics, drift, origin.

    Works for the model itself (``reviews``) and for its monitored wrapper
    (``reviews-monitored``): live results are found through the monitored stream.

    Args:
        name: registered model name.
        experiment_name: where check runs are logged (``monitoring/<stream name>`` default).

    Returns:
        A DataFrame indexed by version (newest first) with columns ``aliases``,
        ``baseline_<metric>``, ``live_<metric>``, ``live_window``, ``drift_p_value``,
        ``drift_detected``, ``last_check``, ``created_by`` and ``trigger_reason``;
        ``<metric>`` is each binary metric, and each multiclass or regression metric some
        version has a baseline for.

    Raises:
        MonitorError: the model does not exist.
    """
    import mlflow
    import pandas as pd

    from mlflow_monitor.performance.tasks import METRICS_BY_TASK
    from mlflow_monitor.performance.tracker import METRIC_NAMES

    client = mlflow.MlflowClient()
    try:
        registered = client.get_registered_model(name)
    except mlflow.exceptions.MlflowException as exc:
        raise MonitorError(f"registered model {name!r} not found: {exc.message}") from exc
    aliases: dict[str, list[str]] = {}
    for alias, version in (registered.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    experiments: dict[str, Any] = {}
    versions = list(client.search_model_versions(f"name = '{name}'"))
    # The binary metrics always (the seed's columns), and the other tasks' metrics some
    # version has a baseline for.
    tagged = {k for v in versions for k in (v.tags or {}) if k.startswith(BASELINE_TAG_PREFIX)}
    others = [
        spec.name
        for specs in METRICS_BY_TASK.values()
        for spec in specs
        if spec.name not in METRIC_NAMES and f"{BASELINE_TAG_PREFIX}{spec.name}" in tagged
    ]
    metric_names = [*METRIC_NAMES, *others]
    for version in versions:
        tags = dict(version.tags or {})
        inner = parse_model_uri(tags.get(TAG_INNER_URI, ""), client)
        stream = inner or ModelRef(name, str(version.version))
        row: dict[str, Any] = {
            "version": int(version.version),
            "aliases": ",".join(sorted(aliases.get(str(version.version), []))),
        }
        for metric in metric_names:
            value = tags.get(f"{BASELINE_TAG_PREFIX}{metric}")
            row[f"baseline_{metric}"] = float(value) if value is not None else None
        exp_name = experiment_name or f"monitoring/{stream.name}"
        if exp_name not in experiments:
            experiments[exp_name] = client.get_experiment_by_name(exp_name)
        experiment = experiments[exp_name]
        perf = drift = None
        if experiment is not None:
            perf = _latest_check(client, experiment.experiment_id, stream, "performance")
            drift = _latest_check(client, experiment.experiment_id, stream, "drift")
        for metric in metric_names:
            row[f"live_{metric}"] = _metric(perf, performance_key(metric), metric)
        row["live_window"] = _metric(perf, performance_key("window_size"), "window_size")
        row["drift_p_value"] = _metric(drift, drift_key("p_value"), "drift_p_value")
        detected = _metric(drift, drift_key("detected"), "drift_detected")
        row["drift_detected"] = None if drift is None else bool(detected)
        latest = [r.info.start_time for r in (perf, drift) if r is not None]
        row["last_check"] = (
            pd.Timestamp(max(latest), unit="ms", tz="UTC").isoformat() if latest else None
        )
        inner_tags = (
            dict(client.get_model_version(inner.name, inner.version).tags or {})
            if inner is not None and inner.name != name
            else tags
        )
        row["created_by"] = inner_tags.get("mlflow_monitor.entry_point", "")
        row["trigger_reason"] = inner_tags.get("mlflow_monitor.trigger_reason", "")
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values("version", ascending=False).set_index("version")
