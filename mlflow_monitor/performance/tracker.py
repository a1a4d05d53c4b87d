"""Rolling classification performance compared with a baseline.

:class:`PerformanceTracker` keeps the most recent ``window_size`` labelled predictions and
computes precision, recall, accuracy and F1 (binary, ``positive_label`` positive). A metric
counts as degraded when it is more than ``threshold`` below its baseline, relatively:
``(baseline - current) / baseline > threshold``. No verdict is given until the window holds
``min_samples`` labels, so the first few labels after a deploy cannot raise an alarm.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from mlflow_monitor._types import Label, as_label
from mlflow_monitor.exceptions import ConfigError, DataValidationError
from mlflow_monitor.results import PerformanceSnapshot

__all__ = ["METRIC_NAMES", "PerformanceTracker", "confusion_counts", "validate_baseline"]

METRIC_NAMES = ("precision", "recall", "accuracy", "f1_score")


def validate_baseline(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Check a baseline dict and return it with float values.

    Args:
        metrics: some or all of ``precision``, ``recall``, ``accuracy``, ``f1_score``,
            each in [0, 1].

    Raises:
        DataValidationError: not a dict, an unknown metric name or a value outside [0, 1].
    """
    if not isinstance(metrics, Mapping):
        raise DataValidationError(
            f"baseline must be a dict of {', '.join(METRIC_NAMES)}, got {type(metrics).__name__}"
        )
    baseline: dict[str, float] = {}
    for name, value in metrics.items():
        if name not in METRIC_NAMES:
            raise DataValidationError(
                f"baseline metric {name!r} is unknown; expected some of {', '.join(METRIC_NAMES)}"
            )
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not 0.0 <= float(value) <= 1.0:
            raise DataValidationError(
                f"baseline metric {name!r} must be a number in [0, 1], got {value!r}"
            )
        baseline[name] = float(value)
    if not baseline:
        raise DataValidationError(f"baseline must name at least one of {', '.join(METRIC_NAMES)}")
    return baseline


class PerformanceTracker:
    """Rolling precision, recall, accuracy and F1 over the latest labelled predictions.

    Args:
        window_size: labelled predictions kept (``performance_window_size``).
        threshold: relative drop below the baseline that counts as degradation.
        min_samples: labels needed before any degradation verdict.
        positive_label: the positive class for precision, recall and F1.
        baseline: optional baseline metrics (see :meth:`set_baseline`).
    """

    def __init__(
        self,
        window_size: int = 1000,
        threshold: float = 0.05,
        min_samples: int = 100,
        positive_label: Label = 1,
        baseline: Mapping[str, float] | None = None,
    ) -> None:
        if isinstance(window_size, bool) or not isinstance(window_size, int) or window_size < 1:
            raise ConfigError(f"window_size must be an integer >= 1, got {window_size!r}")
        if not isinstance(threshold, int | float) or not 0 < threshold < 1:
            raise ConfigError(f"threshold must be a number in (0, 1), got {threshold!r}")
        if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
            raise ConfigError(f"min_samples must be an integer >= 1, got {min_samples!r}")
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
        self.baseline_ = validate_baseline(metrics)
        return self

    def update(self, prediction: Any, true_label: Any) -> None:
        """Add one labelled prediction to the window (the oldest falls out when full)."""
        pair = (as_label(prediction, "prediction"), as_label(true_label, "true_label"))
        with self._lock:
            self._window.append(pair)

    def update_many(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        """Add several ``(prediction, true_label)`` pairs, oldest first."""
        checked = [(as_label(p, "prediction"), as_label(t, "true_label")) for p, t in pairs]
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
        counts = confusion_counts(pairs, self.positive_label)
        metrics = _metrics(pairs, counts)
        enough = len(pairs) >= self.min_samples
        drops: dict[str, float] = {}
        if enough:
            for name, base in self.baseline_.items():
                if base > 0:
                    drop = (base - metrics[name]) / base
                    if drop > self.threshold:
                        drops[name] = drop
        return PerformanceSnapshot(
            precision=metrics["precision"],
            recall=metrics["recall"],
            accuracy=metrics["accuracy"],
            f1_score=metrics["f1_score"],
            n_samples=len(pairs),
            enough_samples=enough,
            degraded=bool(drops),
            degraded_metrics=drops,
            baseline=dict(self.baseline_),
            threshold=self.threshold,
            true_positives=counts[0],
            false_positives=counts[1],
            false_negatives=counts[2],
            true_negatives=counts[3],
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
