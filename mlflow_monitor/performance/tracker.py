"""Rolling performance compared with a baseline.

:class:`PerformanceTracker` keeps the most recent ``window_size`` labelled predictions and
computes its task's metrics (:mod:`~mlflow_monitor.performance.tasks`): for the default
``task="binary"`` precision, recall, accuracy and F1 with ``positive_label`` positive. A
metric counts as degraded when it is more than ``threshold`` worse than its baseline,
relatively: ``(baseline - current) / baseline > threshold`` for a score, ``(current -
baseline) / baseline`` for an error such as MAE. No verdict is given until the window holds
``min_samples`` labels, so the first few labels after a deploy cannot raise an alarm.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from mlflow_monitor._types import Label, as_label, as_target
from mlflow_monitor.exceptions import ConfigError
from mlflow_monitor.performance.tasks import (
    BINARY,
    REGRESSION,
    check_task,
    relative_degradation,
    task_metrics,
    validate_task_baseline,
)
from mlflow_monitor.results import PerformanceSnapshot

__all__ = ["METRIC_NAMES", "PerformanceTracker", "confusion_counts", "validate_baseline"]

METRIC_NAMES = ("precision", "recall", "accuracy", "f1_score")


def validate_baseline(metrics: Mapping[str, Any], task: str = BINARY) -> dict[str, float]:
    """Check a baseline dict and return it with float values.

    Args:
        metrics: some or all of the task's metrics (binary: ``precision``, ``recall``,
            ``accuracy``, ``f1_score``, each in [0, 1]).
        task: the monitor's task.

    Raises:
        DataValidationError: not a dict, an unknown metric name or a value out of range.
    """
    return validate_task_baseline(task, metrics)


class PerformanceTracker:
    """Rolling metrics of a task over the latest labelled predictions.

    Args:
        window_size: labelled predictions kept (``performance_window_size``).
        threshold: relative change for the worse that counts as degradation.
        min_samples: labels needed before any degradation verdict.
        positive_label: the positive class for binary precision, recall and F1.
        baseline: optional baseline metrics (see :meth:`set_baseline`).
        task: ``"binary"`` (default), ``"multiclass"`` or ``"regression"``.
    """

    def __init__(
        self,
        window_size: int = 1000,
        threshold: float = 0.05,
        min_samples: int = 100,
        positive_label: Label = 1,
        baseline: Mapping[str, float] | None = None,
        task: str = BINARY,
    ) -> None:
        if isinstance(window_size, bool) or not isinstance(window_size, int) or window_size < 1:
            raise ConfigError(f"window_size must be an integer >= 1, got {window_size!r}")
        if not isinstance(threshold, int | float) or not 0 < threshold < 1:
            raise ConfigError(f"threshold must be a number in (0, 1), got {threshold!r}")
        if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
            raise ConfigError(f"min_samples must be an integer >= 1, got {min_samples!r}")
        self.task = check_task(task)
        self.window_size = window_size
        self.threshold = float(threshold)
        self.min_samples = min_samples
        self.positive_label = positive_label
        self.baseline_: dict[str, float] = {}
        self._window: deque[tuple[Label, Label]] = deque(maxlen=window_size)
        self._lock = threading.Lock()
        if baseline is not None:
            self.set_baseline(baseline)

    def set_baseline(self, metrics: Mapping[str, Any]) -> PerformanceTracker:
        """Set the metrics to compare against (e.g. from the held-out evaluation).

        Returns:
            self.
        """
        self.baseline_ = validate_baseline(metrics, self.task)
        return self

    def _pair(self, prediction: Any, true_label: Any) -> tuple[Label, Label]:
        if self.task == REGRESSION:
            return as_target(prediction, "prediction"), as_target(true_label, "true_label")
        return as_label(prediction, "prediction"), as_label(true_label, "true_label")

    def update(self, prediction: Any, true_label: Any) -> None:
        """Add one labelled prediction to the window (the oldest falls out when full)."""
        pair = self._pair(prediction, true_label)
        with self._lock:
            self._window.append(pair)

    def update_many(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        """Add several ``(prediction, true_label)`` pairs, oldest first."""
        checked = [self._pair(p, t) for p, t in pairs]
        with self._lock:
            self._window.extend(checked)

    def __len__(self) -> int:
        return len(self._window)

    def window(self) -> list[tuple[Label, Label]]:
        """A copy of the window, oldest first, as ``(prediction, true_label)`` pairs."""
        with self._lock:
            return list(self._window)

    def clear(self) -> None:
        """Forget every labelled prediction (the baseline stays)."""
        with self._lock:
            self._window.clear()

    def compute(self) -> PerformanceSnapshot:
        """Metrics over the current window and the degradation verdict.

        Returns:
            A snapshot; with fewer than ``min_samples`` labels, ``degraded`` is False and
            ``enough_samples`` says why.
        """
        pairs = self.window()
        counts = confusion_counts(pairs, self.positive_label) if self.task == BINARY else None
        by_class: dict[str, float] = {}
        if counts is not None:
            metrics = _metrics(pairs, counts)
            fields = metrics
        else:
            predicted, actual = [p for p, _ in pairs], [t for _, t in pairs]
            metrics, by_class = task_metrics(self.task, predicted, actual)
            fields = {  # the seed's four fields, as close as the task has them
                "precision": metrics.get("macro_precision", 0.0),
                "recall": metrics.get("macro_recall", 0.0),
                "accuracy": metrics.get("accuracy", 0.0),
                "f1_score": metrics.get("macro_f1", 0.0),
            }
        enough = len(pairs) >= self.min_samples
        drops: dict[str, float] = {}
        if enough:
            for name, base in self.baseline_.items():
                drop = relative_degradation(self.task, name, base, metrics[name])
                if drop is not None and drop > self.threshold:
                    drops[name] = drop
        tp, fp, fn, tn = counts if counts is not None else (0, 0, 0, 0)
        return PerformanceSnapshot(
            precision=fields["precision"],
            recall=fields["recall"],
            accuracy=fields["accuracy"],
            f1_score=fields["f1_score"],
            n_samples=len(pairs),
            enough_samples=enough,
            degraded=bool(drops),
            degraded_metrics=drops,
            baseline=dict(self.baseline_),
            threshold=self.threshold,
            true_positives=tp,
            false_positives=fp,
            false_negatives=fn,
            true_negatives=tn,
            task=self.task,
            task_metrics={} if counts is not None else metrics,
            class_recall=by_class,
        )


def confusion_counts(
    pairs: Iterable[tuple[Label, Label]], positive: Label
) -> tuple[int, int, int, int]:
    """Count true positives, false positives, false negatives and true negatives.

    Every label other than ``positive`` counts as negative, so a multi-class window collapses
    to "positive vs. the rest".

    Args:
        pairs: ``(prediction, true_label)`` pairs.
        positive: the positive class.

    Returns:
        ``(true_positives, false_positives, false_negatives, true_negatives)``.
    """
    tp = fp = fn = tn = 0
    for predicted, actual in pairs:
        if predicted == positive:
            if actual == positive:
                tp += 1
            else:
                fp += 1
        elif actual == positive:
            fn += 1
        else:
            tn += 1
    return tp, fp, fn, tn


def _metrics(
    pairs: list[tuple[Label, Label]], counts: tuple[int, int, int, int]
) -> dict[str, float]:
    # Straight from the counts (as scikit-learn with zero_division=0 would give), so a check
    # does not import scikit-learn. Accuracy compares the labels themselves, so with more than
    # two classes it is the multi-class accuracy, not (TP + TN) / n.
    if not pairs:
        return dict.fromkeys(METRIC_NAMES, 0.0)
    tp, fp, fn, _ = counts
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "accuracy": sum(p == t for p, t in pairs) / len(pairs),
        "f1_score": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
    }
