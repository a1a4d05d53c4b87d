"""What each task measures: its metrics, their direction and their range.

A monitor's ``task`` is ``"binary"`` (the default: precision, recall, accuracy and F1 with
``positive_label`` positive), ``"multiclass"`` (accuracy, macro precision, recall and F1,
weighted F1, and the recall of each class) or ``"regression"`` (MAE, RMSE, R² and MAPE).
Multiclass and regression metrics are computed with :mod:`sklearn.metrics`; the binary ones
come from the confusion counts, which give what scikit-learn gives with ``zero_division=0``.

Each metric has a direction: a score (accuracy, R²) degrades when it falls, an error (MAE,
RMSE, MAPE) when it rises. :func:`relative_degradation` measures both the same way, as a
positive fraction of the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlflow_monitor.config import TASKS as CONFIG_TASKS
from mlflow_monitor.exceptions import ConfigError, DataValidationError

__all__ = [
    "BINARY",
    "METRICS_BY_TASK",
    "MULTICLASS",
    "REGRESSION",
    "TASKS",
    "MetricSpec",
    "check_task",
    "metric_names",
    "relative_degradation",
    "task_metrics",
    "validate_task_baseline",
]

BINARY = "binary"
MULTICLASS = "multiclass"
REGRESSION = "regression"
TASKS = CONFIG_TASKS


@dataclass(frozen=True)
class MetricSpec:
    """One performance metric of a task.

    Attributes:
        name: the metric's name in baselines, results, MLflow and Prometheus.
        higher_is_better: True for scores, False for errors.
        low: smallest valid value (None: no bound).
        high: largest valid value (None: no bound).
    """

    name: str
    higher_is_better: bool
    low: float | None
    high: float | None


_UNIT = (0.0, 1.0)
METRICS_BY_TASK: dict[str, tuple[MetricSpec, ...]] = {
    BINARY: tuple(
        MetricSpec(n, True, *_UNIT) for n in ("precision", "recall", "accuracy", "f1_score")
    ),
    MULTICLASS: tuple(
        MetricSpec(n, True, *_UNIT)
        for n in ("accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_f1")
    ),
    REGRESSION: (
        MetricSpec("mae", False, 0.0, None),
        MetricSpec("rmse", False, 0.0, None),
        MetricSpec("r2", True, None, 1.0),
        MetricSpec("mape", False, 0.0, None),
    ),
}


def check_task(task: Any, key: str = "task") -> str:
    """``task`` when it is one of :data:`TASKS`.

    Raises:
        ConfigError: anything else.
    """
    if not isinstance(task, str) or task not in TASKS:
        raise ConfigError(f"{key} must be one of {', '.join(map(repr, TASKS))}, got {task!r}")
    return task


def metric_names(task: str) -> tuple[str, ...]:
    """The names of ``task``'s metrics, in their documented order."""
    return tuple(spec.name for spec in METRICS_BY_TASK[check_task(task)])


def _spec(task: str, name: str) -> MetricSpec | None:
    return next((s for s in METRICS_BY_TASK[task] if s.name == name), None)


def validate_task_baseline(task: str, metrics: Mapping[str, Any]) -> dict[str, float]:
    """Check a baseline for ``task`` and return it with float values.

    Raises:
        DataValidationError: not a dict, a metric the task does not have, or a value out of
            the metric's range.
    """
    names = ", ".join(metric_names(task))
    if not isinstance(metrics, Mapping):
        raise DataValidationError(
            f"baseline must be a dict of {names}, got {type(metrics).__name__}"
        )
    baseline: dict[str, float] = {}
    for name, value in metrics.items():
        spec = _spec(task, name)
        if spec is None:
            raise DataValidationError(
                f"baseline metric {name!r} is unknown for task {task!r}; expected some of {names}"
            )
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        number = float(value) if ok else math.nan
        in_range = (
            math.isfinite(number)
            and (spec.low is None or number >= spec.low)
            and (spec.high is None or number <= spec.high)
        )
        if not in_range:
            low = "-inf" if spec.low is None else f"{spec.low:g}"
            high = "inf" if spec.high is None else f"{spec.high:g}"
            raise DataValidationError(
                f"baseline metric {name!r} must be a number in [{low}, {high}], got {value!r}"
            )
        baseline[name] = number
    if not baseline:
        raise DataValidationError(f"baseline must name at least one of {names}")
    return baseline


def relative_degradation(task: str, name: str, baseline: float, current: float) -> float | None:
    """How much worse ``current`` is than ``baseline``, as a fraction of the baseline.

    Positive when worse: a score that fell, an error that rose. None when the baseline gives
    no scale (zero) or the metric is unknown.
    """
    spec = _spec(task, name)
    if spec is None or baseline == 0 or not math.isfinite(current):
        return None
    change = (baseline - current) if spec.higher_is_better else (current - baseline)
    return change / abs(baseline)


def task_metrics(
    task: str, predictions: Sequence[Any], targets: Sequence[Any]
) -> tuple[dict[str, float], dict[str, float]]:
    """The multiclass or regression metrics of a window (binary ones come from the counts).

    Args:
        task: ``"multiclass"`` or ``"regression"``.
        predictions: predicted labels or values.
        targets: true labels or values, in the same order.

    Returns:
        ``(metrics, class_recall)``: the task's metrics by name, and for multiclass the
        recall of each true class (keyed by the class as text; empty for regression).
    """
    if not predictions:
        return dict.fromkeys(metric_names(task), 0.0), {}
    from sklearn import metrics as skm

    if task == REGRESSION:
        y_pred = [float(v) for v in predictions]
        y_true = [float(v) for v in targets]
        # R² is undefined for a constant target; 0.0 rather than NaN keeps results JSON-safe.
        r2 = float(skm.r2_score(y_true, y_pred)) if len(set(y_true)) > 1 else 0.0
        return {
            "mae": float(skm.mean_absolute_error(y_true, y_pred)),
            "rmse": math.sqrt(float(skm.mean_squared_error(y_true, y_pred))),
            "r2": r2,
            "mape": float(skm.mean_absolute_percentage_error(y_true, y_pred)),
        }, {}
    # Labels as text, so int and str classes (and a mix of them) sort and compare.
    y_pred_text = [str(v) for v in predictions]
    y_true_text = [str(v) for v in targets]
    labels = sorted(set(y_true_text) | set(y_pred_text))
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y_true_text, y_pred_text, labels=labels, average="macro", zero_division=0
    )
    weighted_f1 = skm.f1_score(
        y_true_text, y_pred_text, labels=labels, average="weighted", zero_division=0
    )
    true_classes = sorted(set(y_true_text))
    per_class = skm.recall_score(
        y_true_text, y_pred_text, labels=true_classes, average=None, zero_division=0
    )
    return {
        "accuracy": float(skm.accuracy_score(y_true_text, y_pred_text)),
        "macro_precision": float(precision),
        "macro_recall": float(recall),
        "macro_f1": float(f1),
        "weighted_f1": float(weighted_f1),
    }, {c: float(r) for c, r in zip(true_classes, per_class, strict=True)}
