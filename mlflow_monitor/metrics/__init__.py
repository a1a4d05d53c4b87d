"""Metrics outside the process: Prometheus metrics, the Grafana dashboard, alerting rules.

:mod:`~mlflow_monitor.metrics.prometheus` defines every metric (:data:`METRIC_DEFINITIONS`)
and a monitor's registry of them; :mod:`~mlflow_monitor.metrics.grafana` and
:mod:`~mlflow_monitor.metrics.alerts` generate the dashboard and the rules from those
definitions.
"""

from __future__ import annotations

from mlflow_monitor.metrics.prometheus import (
    METRIC_DEFINITIONS,
    MonitorMetrics,
    exposition,
    start_metrics_server,
)

__all__ = ["METRIC_DEFINITIONS", "MonitorMetrics", "exposition", "start_metrics_server"]
