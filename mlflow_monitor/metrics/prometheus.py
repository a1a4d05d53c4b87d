"""Prometheus metrics of one monitor, on a registry of its own.

The names are the documented ones (``<prefix>_precision``, ``<prefix>_drift_p_value``, ...).
:data:`METRIC_DEFINITIONS` is the single list of them; dashboards and alert rules are
generated from it too. Each :class:`MonitorMetrics` uses a fresh ``CollectorRegistry``
unless one is passed in, so several monitors with different prefixes never collide.

Several worker processes (``mlflow-monitor serve --workers N``, gunicorn) share their metrics
through ``prometheus_client``'s multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set:
counters are summed over the workers, check results show the most recent value written by any
worker (only the process that runs the checks writes them), and ``monitoring_status`` is 1
while any live worker monitors. :func:`exposition` reads them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

if TYPE_CHECKING:
    from mlflow_monitor.results import DriftResult, PerformanceSnapshot

__all__ = [
    "METRIC_DEFINITIONS",
    "MULTIPROC_DIR_ENV",
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


@dataclass(frozen=True)
class MetricDefinition:
    """One exported metric: suffix after the prefix, Prometheus type and help text."""

    suffix: str
    kind: str  # "gauge" or "counter"
    help: str

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
)


class MonitorMetrics:
    """The documented gauges and counters under ``prefix``.

    Args:
        prefix: metric name prefix (``metrics_prefix``).
        registry: registry to register on; a new one by default.
    """

    def __init__(self, prefix: str, registry: CollectorRegistry | None = None) -> None:
        self.prefix = prefix
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._metrics: dict[str, Any] = {}
        for definition in METRIC_DEFINITIONS:
            name = f"{prefix}_{definition.suffix}"
            if definition.kind == "counter":
                self._metrics[definition.suffix] = Counter(
                    name, definition.help, registry=self.registry
                )
            else:
                # How worker processes combine in multiprocess mode (ignored otherwise).
                self._metrics[definition.suffix] = Gauge(
                    name,
                    definition.help,
                    registry=self.registry,
                    multiprocess_mode=(
                        "livemax" if definition.suffix == "monitoring_status" else "mostrecent"
                    ),
                )
        # Until the first check there is no value: NaN, so an alert such as
        # `drift_p_value < 0.05` or `precision < 0.8` cannot fire on a fresh monitor.
        initial = {suffix: float("nan") for suffix in _UNKNOWN_UNTIL_CHECKED}
        initial.update(drift_detected=0.0, performance_degraded=0.0)
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

    def observe_drift(self, result: DriftResult) -> None:
        """Export the outcome of a drift check."""
        self._metrics["drift_detected"].set(1 if result.drift_detected else 0)
        self._metrics["drift_p_value"].set(result.p_value)
        self._metrics["drift_distance"].set(result.distance)

    def observe_performance(self, snapshot: PerformanceSnapshot) -> None:
        """Export the outcome of a performance check."""
        for name, value in snapshot.metrics.items():
            self._metrics[name].set(value)
        self._metrics["performance_degraded"].set(1 if snapshot.degraded else 0)

    def value(self, suffix: str) -> float:
        """Current value of one metric (counters: their total), e.g. for status reports."""
        name = METRIC_BY_SUFFIX[suffix].full_name(self.prefix)
        sample = self.registry.get_sample_value(name)
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
