"""A Grafana dashboard for a monitor, generated from the metric definitions.

The panels are built from the metric definitions of :mod:`~mlflow_monitor.metrics.prometheus`
(:data:`~mlflow_monitor.METRIC_DEFINITIONS` and the estimated, data-quality, prediction-drift
and task metrics) for one metric prefix, so they query exactly the metrics a monitor exports,
and every defined metric is on the dashboard: one without a panel of its own is shown in an
"Other metrics" row. Rows for one task ("Multiclass models", "Regression models") come
last; their panels stay empty for monitors of another task.

Every query filters on the ``model``, ``version`` and ``instance`` variables, and every
series is named by its version, so a retrained version's lines sit next to (not on top of)
those of the version it replaced. The baselines and thresholds are read from the monitor's
own gauges (``<prefix>_baseline``, ``<prefix>_performance_threshold``,
``<prefix>_drift_p_value_threshold``), so the dashboard never goes stale after a retrain.
Fired retraining triggers are annotations on every time series.

The Prometheus data source is a dashboard variable whose default is the ``DS_PROMETHEUS``
input: Grafana's import dialog asks for it, and the same JSON also works through the HTTP API
or from a provisioning directory (where the variable falls back to the default Prometheus
source). Its uid depends only on the prefix, so importing it again replaces the previous
copy. The alerting rules for the same metrics are in :mod:`mlflow_monitor.metrics.alerts`.

Example:
    >>> from mlflow_monitor.metrics.grafana import dashboard_json, grafana_dashboard
    >>> text = dashboard_json(grafana_dashboard("reviews"))
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Final

from mlflow_monitor.config import MonitorConfig
from mlflow_monitor.metrics import prometheus

__all__ = ["DEFAULT_PREFIX", "INPUT", "dashboard_json", "grafana_dashboard", "metric_names"]

DEFAULT_PREFIX: Final = MonitorConfig.metrics_prefix
SCHEMA_VERSION: Final = 39  # Grafana 10.3 and later
INPUT: Final = "DS_PROMETHEUS"  # the data source Grafana's import dialog asks for

_DATASOURCE: Final = {"type": "prometheus", "uid": "${datasource}"}
_SELECTOR: Final = 'model=~"$model", version=~"$version", instance=~"$instance"'
_INSTANCE: Final = "{" + _SELECTOR + "}"
_PERFORMANCE: Final = (
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("accuracy", "Accuracy"),
    ("f1_score", "F1 score"),
)
_MULTICLASS: Final = (
    ("macro_precision", "Macro precision"),
    ("macro_recall", "Macro recall"),
    ("macro_f1", "Macro F1"),
    ("weighted_f1", "Weighted F1"),
)
_REGRESSION: Final = (  # (suffix, title, an error metric: it degrades when it rises)
    ("mae", "Mean absolute error", True),
    ("rmse", "Root mean squared error", True),
    ("mape", "Mean absolute percentage error", True),
    ("r2", "R²", False),
)
_QUALITY: Final = (
    ("data_missing_share", "Missing values (share per column)"),
    ("data_unseen_share", "Unseen categories (share per column)"),
    ("data_out_of_range_share", "Outside the reference range (share per column)"),
)


def grafana_dashboard(prefix: str = DEFAULT_PREFIX, *, title: str | None = None) -> dict[str, Any]:
    """The Grafana dashboard of the monitors whose metrics are named ``<prefix>_...``.

    Args:
        prefix: the monitors' ``metrics_prefix``.
        title: dashboard title (default: ``MLflow monitor: <prefix>``).

    Returns:
        The dashboard model (Grafana ``schemaVersion`` 39), ready for :func:`dashboard_json`.

    Raises:
        ConfigError: a bad prefix.
    """
    names = metric_names(prefix)
    grid = _Grid()

    grid.row("Overview")
    flags = [  # (title, metric, text for 0, text for 1, the value shown red)
        ("Monitoring", names["monitoring_status"], "stopped", "running", 0),
        ("Drift alarm", names["drift_alarm"], "no alarm", "alarm", 1),
        ("Performance", names["performance_degraded"], "ok", "degraded", 1),
    ]
    history = [
        *flags,
        ("Estimated", names["estimated_performance_degraded"], "ok", "degraded", 1),
        ("Outputs", names["prediction_drift_detected"], "steady", "drifted", 1),
    ]
    for flag in flags:
        grid.add(_flag_stat(*flag), 4, 4)
    for title_, suffix in (("Predictions / s", "predictions"), ("Labels / s", "feedback")):
        expr = f"sum(rate({names[suffix]}{_INSTANCE}[$__rate_interval]))"
        grid.add(_stat(title_, expr), 4, 4)
    triggers = f"sum(increase({names['retraining_triggered']}{_INSTANCE}[$__range]))"
    grid.add(_stat("Retraining triggers", triggers), 4, 4)
    grid.add(_state_timeline("Status history", history), 24, 6)

    grid.row("Performance (realized from labels, and estimated before them)")
    for suffix, label in _PERFORMANCE:
        grid.add(_performance(label, suffix, names, estimated=True), 6)
    auc = _timeseries("ROC AUC (estimated)", [_per_instance(names["estimated_roc_auc"])])
    auc["fieldConfig"]["defaults"].update(unit="percentunit", min=0, max=1, decimals=3)
    grid.add(auc, 18)
    grid.add(
        _flag_stat(
            "Estimated performance",
            names["estimated_performance_degraded"],
            "ok",
            "degraded",
            1,
        ),
        6,
    )

    grid.row("Drift")
    p_value = _timeseries(
        "Drift p-value",
        [
            _per_instance(names["drift_p_value"]),
            _target(names["drift_p_value_threshold"] + _INSTANCE, "threshold v{{version}}"),
        ],
        log=True,
    )
    p_value["description"] = "Below the dashed threshold (drift_p_value) a check finds drift."
    _dashed(p_value, "threshold", "red")
    grid.add(p_value, 12)
    grid.add(_timeseries("Drift distance (MMD²)", [_per_instance(names["drift_distance"])]), 12)
    for title_, suffix in (
        ("Drift evidence (alarm policy)", "drift_evidence"),
        ("Largest feature effect (reference SDs)", "drift_effect_size"),
        ("Check significant (drift_detected)", "drift_detected"),
    ):
        grid.add(_timeseries(title_, [_per_instance(names[suffix])]), 8)
    outputs = _timeseries(
        "Prediction drift p-value (the model's outputs)",
        [
            _per_instance(names["prediction_drift_p_value"]),
            _target(names["drift_p_value_threshold"] + _INSTANCE, "threshold v{{version}}"),
        ],
        log=True,
    )
    outputs["description"] = (
        "The smallest corrected p-value of the tests of the model's outputs against the "
        "reference's outputs: a label-free signal."
    )
    _dashed(outputs, "threshold", "red")
    grid.add(outputs, 12)
    grid.add(
        _timeseries(
            "Outputs drifted (prediction_drift_detected)",
            [_per_instance(names["prediction_drift_detected"])],
        ),
        12,
    )

    grid.row("Data quality (the last drift check's window)")
    for suffix, title_ in _QUALITY:
        shares = _timeseries(
            title_, [_target(names[suffix] + _INSTANCE, "{{column}} v{{version}}")], "percentunit"
        )
        grid.add(shares, 8)
    grid.add(
        _timeseries(
            "Schema changes (missing, new and retyped columns)",
            [_per_instance(names["data_schema_changes"])],
        ),
        24,
        6,
    )

    grid.row("Traffic and retraining")
    rates = [
        _target(f"rate({names[s]}{_INSTANCE}[$__rate_interval])", f"{label} {{{{instance}}}}")
        for s, label in (
            ("predictions", "predictions"),
            ("feedback", "labels"),
            ("feedback_rejected", "rejected labels"),
            ("records_dropped", "dropped records"),
            ("records_rejected", "rejected records"),
        )
    ]
    grid.add(
        _timeseries("Predictions, labels, rejected labels and records not stored / s", rates), 12
    )
    triggered = f"increase({names['retraining_triggered']}{_INSTANCE}[$__rate_interval])"
    bars = _timeseries("Retraining triggers", [_target(triggered, "{{instance}}")])
    bars["fieldConfig"]["defaults"]["custom"].update(drawStyle="bars", fillOpacity=80)
    grid.add(bars, 12)
    grid.add(_flag_stat("Store file", names["store_file_lost"], "ok", "lost", 1), 4, 4)

    grid.row("Multiclass models")
    for suffix, label in _MULTICLASS:
        # macro F1 is also estimated before labels (a multiclass monitor's estimate)
        estimated = f"estimated_{suffix}" in names
        grid.add(_performance(label, suffix, names, estimated=estimated), 6)
    recall = _timeseries(
        "Recall per class",
        [_target(names["class_recall"] + _INSTANCE, "class {{class_label}} v{{version}}")],
        "percentunit",
    )
    grid.add(recall, 24)

    grid.row("Regression models")
    for suffix, label, error in _REGRESSION:
        # MAE and RMSE are also estimated before labels (a regression monitor's estimate)
        estimated = f"estimated_{suffix}" in names
        grid.add(_performance(label, suffix, names, estimated=estimated, error=error), 6)

    shown = " ".join(t["expr"] for p in grid.panels for t in p.get("targets", []))
    others = [d for d in _definitions() if not _mentions(shown, names[d.suffix])]
    if others:
        grid.row("Other metrics")
        for d in others:
            selected = names[d.suffix] + _INSTANCE
            expr = f"rate({selected}[$__rate_interval])" if d.kind == "counter" else selected
            grid.add(_timeseries(d.help, [_target(expr, "{{instance}}")]), 8)

    return {
        "__inputs": [
            {
                "name": INPUT,
                "label": "Prometheus",
                "description": "The Prometheus that scrapes the monitored models",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.3.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        ],
        "annotations": {"list": _annotations(names["retraining_triggered"])},
        "description": f"Generated by `mlflow-monitor grafana-dashboard --prefix {prefix}`.",
        "editable": True,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": grid.panels,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["mlflow-monitor"],
        "templating": {"list": _variables(names["monitoring_status"])},
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title or f"MLflow monitor: {prefix}",
        "uid": "mlflow-monitor-" + hashlib.sha256(prefix.encode()).hexdigest()[:16],
        "version": 1,
    }


def dashboard_json(dashboard: Mapping[str, Any]) -> str:
    """The dashboard as the JSON text Grafana imports."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def metric_names(prefix: str) -> dict[str, str]:
    """The exposed name of every defined metric under ``prefix``, by suffix.

    Raises:
        ConfigError: ``prefix`` is not a valid ``metrics_prefix``.
    """
    MonitorConfig(metrics_prefix=prefix)  # validates the prefix
    return {d.suffix: d.full_name(prefix) for d in _definitions()}


def _definitions() -> tuple[prometheus.MetricDefinition, ...]:
    """Every metric a monitor of any task can export."""
    tasks = [d for group in prometheus.TASK_METRIC_DEFINITIONS.values() for d in group]
    return (
        *prometheus.METRIC_DEFINITIONS,
        *prometheus.ESTIMATED_DEFINITIONS,
        *prometheus.PREDICTION_DRIFT_DEFINITIONS,
        *prometheus.QUALITY_DEFINITIONS,
        *tasks,
        prometheus.CLASS_RECALL,
    )


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", text) is not None


# --- panels --------------------------------------------------------------------------------


class _Grid:
    """Places panels left to right on Grafana's 24-column grid, rows below each other."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = self.y = self.height = 0

    def row(self, title: str) -> None:
        self._newline()
        self._place({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self._newline()

    def add(self, panel: dict[str, Any], width: int, height: int = 8) -> None:
        if self.x + width > 24:
            self._newline()
        self._place(panel, width, height)

    def _place(self, panel: dict[str, Any], width: int, height: int) -> None:
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"h": height, "w": width, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += width
        self.height = max(self.height, height)

    def _newline(self) -> None:
        if self.x:
            self.y += self.height
            self.x = self.height = 0


def _target(expr: str, legend: str) -> dict[str, Any]:
    return {
        "datasource": dict(_DATASOURCE),
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": True,
    }


def _per_instance(name: str) -> dict[str, Any]:
    return _target(name + _INSTANCE, "v{{version}} {{instance}}")


def _panel(
    kind: str, title: str, targets: list[dict[str, Any]], options: dict[str, Any]
) -> dict[str, Any]:
    for i, target in enumerate(targets):
        target["refId"] = chr(ord("A") + i)
    return {
        "type": kind,
        "title": title,
        "datasource": dict(_DATASOURCE),
        "targets": targets,
        "fieldConfig": {
            "defaults": {
                "unit": "short",
                "color": {"mode": "palette-classic" if kind == "timeseries" else "thresholds"},
                "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}]},
                "custom": {},
            },
            "overrides": [],
        },
        "options": options,
    }


def _stat(title: str, expr: str) -> dict[str, Any]:
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background",
        "graphMode": "none",
        "textMode": "auto",
        "justifyMode": "auto",
        "orientation": "auto",
    }
    return _panel("stat", title, [_target(expr, title)], options)


def _value_mappings(off: str, on: str, bad: int) -> list[dict[str, Any]]:
    colors = {bad: "red", 1 - bad: "green"}
    return [
        {
            "type": "value",
            "options": {
                "0": {"text": off, "color": colors[0], "index": 0},
                "1": {"text": on, "color": colors[1], "index": 1},
            },
        }
    ]


def _flag_stat(title: str, name: str, off: str, on: str, bad: int) -> dict[str, Any]:
    """A 0/1 gauge as a colored word; ``bad`` is the value shown red."""
    # max: monitoring runs if any process runs it (the leader); drift if any saw drift.
    panel = _stat(title, f"max({name}{_INSTANCE})")
    panel["fieldConfig"]["defaults"]["mappings"] = _value_mappings(off, on, bad)
    return panel


def _state_timeline(title: str, flags: list[tuple[str, str, str, str, int]]) -> dict[str, Any]:
    """The history of 0/1 gauges, one band per flag and instance, colored as in the stats."""
    targets = [_target(name + _INSTANCE, f"{label} {{{{instance}}}}") for label, name, *_ in flags]
    panel = _panel(
        "state-timeline",
        title,
        targets,
        {
            "mergeValues": True,
            "showValue": "auto",
            "alignValue": "left",
            "rowHeight": 0.9,
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
            "tooltip": {"mode": "single", "sort": "none"},
        },
    )
    panel["fieldConfig"]["defaults"]["custom"] = {"fillOpacity": 80, "lineWidth": 0}
    panel["fieldConfig"]["overrides"] = [
        {
            "matcher": {"id": "byFrameRefID", "options": target["refId"]},
            "properties": [{"id": "mappings", "value": _value_mappings(off, on, bad)}],
        }
        for target, (_, _, off, on, bad) in zip(targets, flags, strict=True)
    ]
    return panel


def _timeseries(
    title: str, targets: list[dict[str, Any]], unit: str = "short", log: bool = False
) -> dict[str, Any]:
    options = {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "none"},
    }
    panel = _panel("timeseries", title, targets, options)
    defaults = panel["fieldConfig"]["defaults"]
    defaults["unit"] = unit
    defaults["custom"] = {
        "drawStyle": "line",
        "lineWidth": 2,
        "fillOpacity": 0,
        "showPoints": "auto",
        "spanNulls": False,
        "scaleDistribution": {"type": "log", "log": 10} if log else {"type": "linear"},
        "thresholdsStyle": {"mode": "off"},
    }
    return panel


def _dashed(panel: dict[str, Any], legend_start: str, color: str) -> None:
    """Draw the series whose legend starts with ``legend_start`` as a dashed ``color`` line."""
    panel["fieldConfig"]["overrides"].append(
        {
            "matcher": {"id": "byRegexp", "options": f"^{re.escape(legend_start)}.*"},
            "properties": [
                {"id": "color", "value": {"mode": "fixed", "fixedColor": color}},
                {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
            ],
        }
    )


def _performance(
    title: str,
    suffix: str,
    names: Mapping[str, str],
    *,
    estimated: bool = False,
    error: bool | None = None,
) -> dict[str, Any]:
    """A rolling metric with its version's baseline and the level past which it counts as
    degraded, both read from the monitor's gauges.

    ``estimated`` adds the metric estimated before labels (``estimated_<suffix>``, blue,
    dashed). ``error`` marks a metric that is not a share: True for an error metric, which
    degrades when it rises above the baseline, False for one that degrades when it falls
    (R²); None for shares in [0, 1].
    """
    baseline = f'{names["baseline"]}{{metric="{suffix}", {_SELECTOR}}}'
    threshold = names["performance_threshold"] + _INSTANCE
    sign, past = ("+", "degraded above") if error else ("-", "degraded below")
    targets = [
        _per_instance(names[suffix]),
        _target(baseline, "baseline v{{version}}"),
        _target(f"{baseline} * ignoring(metric) (1 {sign} {threshold})", past + " v{{version}}"),
    ]
    if estimated:
        targets.append(_target(names[f"estimated_{suffix}"] + _INSTANCE, "estimated v{{version}}"))
    panel = _timeseries(title, targets, unit="percentunit" if error is None else "short")
    if error is None:
        panel["fieldConfig"]["defaults"].update(min=0, max=1, decimals=3)
    panel["description"] = (
        "The rolling metric, its version's baseline (gray, dashed) and the level past which "
        f"it counts as degraded (red, dashed): performance_threshold {'over' if error else 'under'}"
        " the baseline."
        + (" Blue, dashed: the metric estimated before labels." if estimated else "")
    )
    _dashed(panel, "baseline", "text")
    _dashed(panel, past, "red")
    if estimated:
        _dashed(panel, "estimated", "blue")
    return panel


def _annotations(triggered: str) -> list[dict[str, Any]]:
    """Grafana's own annotations, and a mark at every fired retraining trigger."""
    return [
        {
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        },
        {
            "name": "Retraining triggers",
            "datasource": dict(_DATASOURCE),
            "enable": True,
            "hide": False,
            "iconColor": "red",
            "expr": f"increase({triggered}{_INSTANCE}[2m]) > 0",
            "step": "1m",
            "titleFormat": "Retraining triggered",
            "textFormat": "{{model}} v{{version}} on {{instance}}",
            "tagKeys": "model,version",
            "useValueForTime": False,
        },
    ]


def _variables(probe: str) -> list[dict[str, Any]]:
    """The data source variable, and model, version and instance filters listing the series of
    ``probe``."""
    datasource = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {"selected": False, "text": f"${{{INPUT}}}", "value": f"${{{INPUT}}}"},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
    }
    filters = (
        ("model", "Model", f"label_values({probe}, model)"),
        ("version", "Version", f'label_values({probe}{{model=~"$model"}}, version)'),
        (
            "instance",
            "Instance",
            f'label_values({probe}{{model=~"$model", version=~"$version"}}, instance)',
        ),
    )
    return [datasource] + [
        {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": dict(_DATASOURCE),
            "definition": query,
            "query": query,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "hide": 0,
            "includeAll": True,
            "allValue": ".*",
            "multi": True,
            "options": [],
            "refresh": 2,
            "regex": "",
            "sort": 1,
        }
        for name, label, query in filters
    ]
