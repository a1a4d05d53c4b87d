"""Prometheus metrics of one monitor, on a registry of its own.

The names are the documented ones (``<prefix>_precision``, ``<prefix>_drift_p_value``, ...).
:data:`METRIC_DEFINITIONS` is the single list of them; dashboards and alert rules are
generated from it too. Each :class:`MonitorMetrics` uses a fresh ``CollectorRegistry``
unless one is passed in, so several monitors with different prefixes never collide.

Every series carries ``model`` and ``version`` labels (the monitored model version), so the
series of version 1 and of the version that replaced it stay apart after a retrain. The
levels a check compares against are gauges too: ``<prefix>_baseline{metric="precision"}``
holds each baseline metric, ``<prefix>_performance_threshold`` the relative drop that counts
as degraded and ``<prefix>_drift_p_value_threshold`` the drift test's level, so dashboards and
alerts read them from Prometheus instead of baking them in.

Several worker processes (``mlflow-monitor serve --workers N``, gunicorn) share their metrics
through ``prometheus_client``'s multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set:
counters are summed over the workers, check results show the most recent value written by any
worker (only the process that runs the checks writes them), and ``monitoring_status`` is 1
while any live worker monitors. :func:`exposition` reads them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

if TYPE_CHECKING:
    from mlflow_monitor.results import (
        DataQualityResult,
        DriftResult,
        PerformanceEstimate,
        PerformanceSnapshot,
        PredictionDrift,
    )

__all__ = [
    "CLASS_RECALL",
    "MAX_EXPORTED_CLASSES",
    "METRIC_DEFINITIONS",
    "MODEL_LABELS",
    "MULTIPROC_DIR_ENV",
    "TASK_METRIC_DEFINITIONS",
    "MetricDefinition",
    "MonitorMetrics",
    "exposition",
    "multiprocess_dir",
    "start_metrics_server",
]

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The directory of ``prometheus_client``'s multiprocess mode, or None when it is off."""
    return os.environ.get(MULTIPROC_DIR_ENV) or os.environ.get(MULTIPROC_DIR_ENV.lower()) or None


MODEL_LABELS: tuple[str, ...] = ("model", "version")


@dataclass(frozen=True)
class MetricDefinition:
    """One exported metric: suffix after the prefix, Prometheus type, help text and labels."""

    suffix: str
    kind: str  # "gauge" or "counter"
    help: str
    labels: tuple[str, ...] = MODEL_LABELS

    def full_name(self, prefix: str) -> str:
        """Exposed name; counters carry the ``_total`` suffix as Prometheus requires."""
        return f"{prefix}_{self.suffix}" + ("_total" if self.kind == "counter" else "")


METRIC_DEFINITIONS: tuple[MetricDefinition, ...] = (
    MetricDefinition("precision", "gauge", "Precision over the rolling labelled window"),
    MetricDefinition("recall", "gauge", "Recall over the rolling labelled window"),
    MetricDefinition("accuracy", "gauge", "Accuracy over the rolling labelled window"),
    MetricDefinition("f1_score", "gauge", "F1 score over the rolling labelled window"),
    MetricDefinition("drift_detected", "gauge", "1 if the last drift check found drift, else 0"),
    MetricDefinition("drift_p_value", "gauge", "p-value of the last multivariate drift test"),
    MetricDefinition("drift_distance", "gauge", "MMD^2 distance of the last drift test"),
    MetricDefinition(
        "drift_alarm",
        "gauge",
        "1 from a drift check whose alarm fired until a drift check finds no drift, else 0",
    ),
    MetricDefinition(
        "drift_evidence", "gauge", "Drift evidence accumulated by the alarm policy (CUSUM)"
    ),
    MetricDefinition(
        "drift_effect_size", "gauge", "Largest per-feature drift effect, in reference SDs"
    ),
    MetricDefinition("monitoring_status", "gauge", "1 while periodic monitoring runs, else 0"),
    MetricDefinition(
        "performance_degraded", "gauge", "1 if the last performance check found degradation"
    ),
    MetricDefinition("retraining_triggered", "counter", "Retraining triggers fired"),
    MetricDefinition("predictions", "counter", "Predictions recorded"),
    MetricDefinition("feedback", "counter", "Ground-truth labels recorded"),
    MetricDefinition(
        "feedback_rejected",
        "counter",
        "Ground-truth labels rejected: unknown or already labelled prediction id, or a bad label",
    ),
    MetricDefinition(
        "records_dropped",
        "counter",
        "Prediction records dropped because the inference store's queue was full or the "
        "database refused them",
    ),
    MetricDefinition(
        "store_file_lost",
        "gauge",
        "1 when the inference store's SQLite file was deleted or replaced while in use (what "
        "would be written to it is dropped and counted), else 0",
    ),
    MetricDefinition(
        "records_rejected",
        "counter",
        "Prediction records answered but not stored because their prediction id was already "
        "recorded",
    ),
    MetricDefinition(
        "baseline",
        "gauge",
        "Baseline of each performance metric (label metric), from the version's evaluation",
        (*MODEL_LABELS, "metric"),
    ),
    MetricDefinition(
        "performance_threshold",
        "gauge",
        "Relative drop below the baseline at which a performance metric counts as degraded",
    ),
    MetricDefinition(
        "drift_p_value_threshold",
        "gauge",
        "p-value below which a drift check finds drift (drift_p_value)",
    ),
)


# The performance gauges of the other tasks, made only by monitors of that task (a binary
# monitor exports exactly METRIC_DEFINITIONS). The accuracy of a multiclass monitor goes to
# the documented ``accuracy`` gauge.
TASK_METRIC_DEFINITIONS: dict[str, tuple[MetricDefinition, ...]] = {
    "binary": (),
    "multiclass": (
        MetricDefinition("macro_precision", "gauge", "Macro-averaged precision over the window"),
        MetricDefinition("macro_recall", "gauge", "Macro-averaged recall over the window"),
        MetricDefinition("macro_f1", "gauge", "Macro-averaged F1 score over the window"),
        MetricDefinition("weighted_f1", "gauge", "Support-weighted F1 score over the window"),
    ),
    "regression": (
        MetricDefinition("mae", "gauge", "Mean absolute error over the rolling labelled window"),
        MetricDefinition("rmse", "gauge", "Root mean squared error over the window"),
        MetricDefinition("r2", "gauge", "Coefficient of determination (R^2) over the window"),
        MetricDefinition("mape", "gauge", "Mean absolute percentage error over the window"),
    ),
}
CLASS_RECALL = MetricDefinition(
    "class_recall",
    "gauge",
    "Recall of one true class over the window (label class_label)",
    (*MODEL_LABELS, "class_label"),
)
# Data quality of the last drift check's window: per column (label ``column``, at most
# MAX_EXPORTED_COLUMNS of them, the worst first) and the schema changes.
QUALITY_DEFINITIONS: tuple[MetricDefinition, ...] = (
    MetricDefinition(
        "data_missing_share",
        "gauge",
        "Share of missing values per column (label column)",
        (*MODEL_LABELS, "column"),
    ),
    MetricDefinition(
        "data_unseen_share",
        "gauge",
        "Share of categories the reference never had (label column)",
        (*MODEL_LABELS, "column"),
    ),
    MetricDefinition(
        "data_out_of_range_share",
        "gauge",
        "Share of values outside the reference range (label column)",
        (*MODEL_LABELS, "column"),
    ),
    MetricDefinition(
        "data_schema_changes", "gauge", "Missing, new and retyped columns in the window"
    ),
)
MAX_EXPORTED_COLUMNS = 50
PREDICTION_DRIFT_DEFINITIONS: tuple[MetricDefinition, ...] = (
    MetricDefinition(
        "prediction_drift_detected", "gauge", "1 if the last check found the outputs drifted"
    ),
    MetricDefinition(
        "prediction_drift_p_value", "gauge", "Smallest corrected p-value of the output tests"
    ),
)
# Metrics estimated before labels (a monitor with performance estimation set up).
_ESTIMATED = ("accuracy", "precision", "recall", "f1_score", "roc_auc", "macro_f1", "mae", "rmse")
ESTIMATED_DEFINITIONS: tuple[MetricDefinition, ...] = (
    *(
        MetricDefinition(
            f"estimated_{name}",
            "gauge",
            f"{name} estimated before labels over the latest predictions (from the model's "
            "confidence; regression: from loss models)",
        )
        for name in _ESTIMATED
    ),
    MetricDefinition(
        "estimated_performance_degraded",
        "gauge",
        "1 if the last estimate was more than performance_threshold worse than the baseline",
    ),
)
# Classes exported with their own class_recall series: label values stay bounded however
# many classes a model has (the rest are in the check run's metrics).
MAX_EXPORTED_CLASSES = 50


class MonitorMetrics:
    """The documented gauges and counters under ``prefix``, and the task's metrics.

    Args:
        prefix: metric name prefix (``metrics_prefix``).
        registry: registry to register on; a new one by default.
        task: the monitor's task; ``"multiclass"`` and ``"regression"`` add their metrics'
            gauges (:data:`TASK_METRIC_DEFINITIONS`; multiclass also ``class_recall`` with a
            ``class_label`` label, for at most :data:`MAX_EXPORTED_CLASSES` classes).
        model: the ``model`` label of every series (``model_name``).
        version: the ``version`` label of every series (``model_version``).
    """

    def __init__(
        self,
        prefix: str,
        registry: CollectorRegistry | None = None,
        task: str = "binary",
        *,
        model: str = "default",
        version: str = "0",
    ) -> None:
        self.prefix = prefix
        self.task = task
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.labels = {"model": str(model), "version": str(version)}
        self._metrics: dict[str, Any] = {}
        self._families: dict[str, Any] = {}
        for definition in METRIC_DEFINITIONS:
            name = f"{prefix}_{definition.suffix}"
            family: Any
            if definition.kind == "counter":
                family = Counter(name, definition.help, definition.labels, registry=self.registry)
            else:
                # How worker processes combine in multiprocess mode (ignored otherwise).
                family = Gauge(
                    name,
                    definition.help,
                    definition.labels,
                    registry=self.registry,
                    multiprocess_mode=(
                        "livemax" if definition.suffix == "monitoring_status" else "mostrecent"
                    ),
                )
            self._families[definition.suffix] = family
            if definition.labels == MODEL_LABELS:
                self._metrics[definition.suffix] = family.labels(**self.labels)
        task_definitions = TASK_METRIC_DEFINITIONS.get(task, ())
        for definition in task_definitions:
            self._metrics[definition.suffix] = self._new_gauge(definition).labels(**self.labels)
        for definition in QUALITY_DEFINITIONS:
            if definition.suffix != "data_schema_changes":  # made by the first quality result
                self._families[definition.suffix] = self._new_gauge(definition)
        self._class_recall: Any = None
        if task == "multiclass":
            self._class_recall = self._new_gauge(CLASS_RECALL)
        # Until the first check there is no value: NaN, so an alert such as
        # `drift_p_value < 0.05` or `precision < 0.8` cannot fire on a fresh monitor.
        unknown = (*_UNKNOWN_UNTIL_CHECKED, *(d.suffix for d in task_definitions))
        initial = {suffix: float("nan") for suffix in unknown}
        initial.update(drift_detected=0.0, drift_alarm=0.0, performance_degraded=0.0)
        for suffix, value in initial.items():
            if multiprocess_dir() is None:
                self._metrics[suffix].set(value)
            else:
                # Timestamped at the epoch, so any value a checking worker sets is more
                # recent, however late this worker starts.
                self._metrics[suffix]._value.set(value, timestamp=_EPOCH)

    def __getitem__(self, suffix: str) -> Any:
        return self._metrics[suffix]

    def count_predictions(self, n: int = 1) -> None:
        """Add ``n`` recorded predictions."""
        self._metrics["predictions"].inc(n)

    def count_feedback(self, n: int = 1) -> None:
        """Add ``n`` recorded labels."""
        self._metrics["feedback"].inc(n)

    def count_feedback_rejected(self) -> None:
        """Add one rejected label."""
        self._metrics["feedback_rejected"].inc()

    def count_dropped(self, n: int) -> None:
        """Add ``n`` prediction records the store dropped."""
        self._metrics["records_dropped"].inc(n)

    def count_rejected(self, n: int) -> None:
        """Add ``n`` prediction records the store refused for an id already recorded."""
        self._metrics["records_rejected"].inc(n)

    def set_store_file_lost(self, lost: bool) -> None:
        """Set the lost-store-file gauge."""
        self._metrics["store_file_lost"].set(1.0 if lost else 0.0)

    def count_trigger(self) -> None:
        """Add one fired retraining trigger."""
        self._metrics["retraining_triggered"].inc()

    def set_monitoring(self, running: bool) -> None:
        """Set the monitoring status gauge."""
        self._metrics["monitoring_status"].set(1 if running else 0)

    def set_levels(self, drift_p_value: float, performance_threshold: float) -> None:
        """Export the levels checks compare against (``drift_p_value``,
        ``performance_threshold``)."""
        self._metrics["drift_p_value_threshold"].set(drift_p_value)
        self._metrics["performance_threshold"].set(performance_threshold)

    def set_baseline(self, baseline: Mapping[str, float]) -> None:
        """Export the baseline, one ``<prefix>_baseline{metric=...}`` series per metric."""
        family = self._families["baseline"]
        for metric, value in baseline.items():
            family.labels(**self.labels, metric=metric).set(value)

    def observe_drift(self, result: DriftResult) -> None:
        """Export the outcome of a drift check."""
        self._metrics["drift_detected"].set(1 if result.drift_detected else 0)
        self._metrics["drift_p_value"].set(result.p_value)
        self._metrics["drift_distance"].set(result.distance)
        self._metrics["drift_effect_size"].set(result.effect_size)
        if result.alarm is not None:
            self._metrics["drift_evidence"].set(result.alarm.statistic)
            # The alarm stays raised while checks keep finding drift after it fired.
            if result.alarm.fired:
                self._metrics["drift_alarm"].set(1)
            elif not result.drift_detected:
                self._metrics["drift_alarm"].set(0)

    def observe_quality(self, quality: DataQualityResult) -> None:
        """Export the data quality of a drift check's window."""
        worst = sorted(
            quality.columns,
            key=lambda c: -(c.missing_share + (c.unseen_share or 0) + (c.out_of_range_share or 0)),
        )[:MAX_EXPORTED_COLUMNS]
        families = self._families
        for column in worst:
            labels = {**self.labels, "column": column.name}
            families["data_missing_share"].labels(**labels).set(column.missing_share)
            if column.unseen_share is not None:
                families["data_unseen_share"].labels(**labels).set(column.unseen_share)
            if column.out_of_range_share is not None:
                families["data_out_of_range_share"].labels(**labels).set(column.out_of_range_share)
        self._gauge(QUALITY_DEFINITIONS[-1]).set(quality.schema_changes)

    def observe_prediction_drift(self, result: PredictionDrift) -> None:
        """Export the outcome of a prediction drift test."""
        detected, p_value = PREDICTION_DRIFT_DEFINITIONS
        self._gauge(detected).set(1 if result.drift_detected else 0)
        smallest = min((o.adjusted_p_value for o in result.outputs), default=1.0)
        self._gauge(p_value).set(smallest)

    def observe_estimate(self, estimate: PerformanceEstimate) -> None:
        """Export the metrics a performance check estimated (``<prefix>_estimated_<metric>``)."""
        by_suffix = {d.suffix: d for d in ESTIMATED_DEFINITIONS}
        for name, value in estimate.metrics.items():
            definition = by_suffix.get(f"estimated_{name}")
            if definition is not None:
                self._gauge(definition).set(value)
        flag = by_suffix["estimated_performance_degraded"]
        self._gauge(flag).set(1 if estimate.degraded else 0)

    def _gauge(self, definition: MetricDefinition) -> Any:
        """A gauge made on first use, so a monitor that never reports it exports only the
        documented metrics."""
        if definition.suffix not in self._metrics:
            self._metrics[definition.suffix] = self._new_gauge(definition).labels(**self.labels)
        return self._metrics[definition.suffix]

    def _new_gauge(self, definition: MetricDefinition, *extra_labels: str) -> Any:
        """A gauge family of ``definition`` with the model labels and ``extra_labels``."""
        return Gauge(
            f"{self.prefix}_{definition.suffix}",
            definition.help,
            [*definition.labels, *extra_labels],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )

    def observe_performance(self, snapshot: PerformanceSnapshot) -> None:
        """Export the outcome of a performance check."""
        for name, value in snapshot.metrics.items():
            if name in self._metrics:
                self._metrics[name].set(value)
        if self._class_recall is not None:
            for label, value in sorted(snapshot.class_recall.items())[:MAX_EXPORTED_CLASSES]:
                self._class_recall.labels(**self.labels, class_label=label).set(value)
        self._metrics["performance_degraded"].set(1 if snapshot.degraded else 0)

    def value(self, suffix: str) -> float:
        """Current value of one metric (counters: their total), e.g. for status reports."""
        name = METRIC_BY_SUFFIX[suffix].full_name(self.prefix)
        sample = self.registry.get_sample_value(name, self.labels)
        return float(sample) if sample is not None else 0.0

    def restore_counters(self, totals: dict[str, float]) -> None:
        """Add saved counter totals (after :meth:`ModelMonitor.load_state`)."""
        for suffix, total in totals.items():
            if METRIC_BY_SUFFIX[suffix].kind == "counter":
                missing = total - self.value(suffix)
                if missing > 0:
                    self._metrics[suffix].inc(missing)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return bytes(generate_latest(self.registry))


def exposition(metrics: MonitorMetrics) -> bytes:
    """What ``/metrics`` serves: these metrics, or in multiprocess mode every worker's.

    In multiprocess mode the values are read from the files of all worker processes (of
    every monitor they run), so counters are summed across workers and never counted twice.
    """
    directory = multiprocess_dir()
    if directory is None:
        return metrics.exposition()
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return bytes(generate_latest(registry))


METRIC_BY_SUFFIX = {d.suffix: d for d in METRIC_DEFINITIONS}
_EPOCH = 1e-9  # prometheus_client treats a timestamp of 0 as "never set"
_UNKNOWN_UNTIL_CHECKED = (
    "precision",
    "recall",
    "accuracy",
    "f1_score",
    "drift_p_value",
    "drift_distance",
    "drift_evidence",
    "drift_effect_size",
)


def start_metrics_server(
    metrics: MonitorMetrics, port: int = 8000, addr: str = "127.0.0.1"
) -> tuple[Any, Any]:
    """Serve ``/metrics`` for Prometheus in a background thread.

    Args:
        metrics: the monitor's metrics (``monitor.prometheus_metrics``).
        port: TCP port (0 picks a free one; read it from ``server.server_port``).
        addr: address to bind; loopback by default, ``0.0.0.0`` to expose it.

    Returns:
        ``(server, thread)``; call ``server.shutdown()`` to stop.
    """
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=addr, registry=metrics.registry)
    return server, thread
