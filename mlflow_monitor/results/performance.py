"""Results of performance checks: the realized metrics over the labelled window, and the
estimate made before labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlflow_monitor.results.clock import utcnow
from mlflow_monitor.results.parsing import float_map, optional_float

__all__ = ["Calibration", "PerformanceEstimate", "PerformanceSnapshot"]


_TASK_METRICS = {
    "multiclass": ("accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_f1"),
    "regression": ("mae", "rmse", "r2", "mape"),
}


_CALIBRATION_SCORES = ("brier_before", "brier_after", "ece_before", "ece_after")


@dataclass(frozen=True)
class Calibration:
    """How the reference probabilities were judged and what is used for windows.

    Attributes:
        method: ``"isotonic"`` (recalibrated) or ``"none"`` (used as given); ``"loss model"``
            for regression.
        brier_before: Brier score of the given probabilities on the reference.
        brier_after: Brier score of the recalibrated ones, fit and judged on different folds.
        ece_before: expected calibration error of the given probabilities (10 bins).
        ece_after: the same after cross-fitted recalibration.
    """

    method: str
    brier_before: float | None = None
    brier_after: float | None = None
    ece_before: float | None = None
    ece_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "method": self.method,
            "brier_before": self.brier_before,
            "brier_after": self.brier_after,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`."""
        return cls(
            str(data["method"]),
            **{k: optional_float(data.get(k)) for k in _CALIBRATION_SCORES},
        )


@dataclass(frozen=True)
class PerformanceEstimate:
    """Estimated metrics over an unlabelled window.

    Attributes:
        metrics: estimated value of each metric of the task.
        intervals: ``(low, high)`` of each metric, at ``confidence``.
        n_samples: rows of the window.
        confidence: the intervals' level (0.95).
        calibration: how the reference probabilities were judged.
        degraded_metrics: in a performance check, the metrics whose estimate is more than
            ``performance_threshold`` worse than the baseline, with the estimated drops.
        realized_error: in a performance check whose labelled window is full enough and
            whose labels are of the estimated predictions, the estimate minus the realized
            value of each metric both have.
        labelled_in_window: in a performance check, how many of the window's predictions have
            a label by now (None when the store does not say).
        decides: in a performance check, whether the verdict followed this estimate: the
            labelled window was short, or its labels were of older predictions than the
            estimated ones (fewer than ``performance_min_samples`` of these are labelled)
            and showed no degradation of their own.
    """

    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    n_samples: int
    confidence: float = 0.95
    calibration: Calibration = field(default_factory=lambda: Calibration("none"))
    degraded_metrics: dict[str, float] = field(default_factory=dict)
    realized_error: dict[str, float] = field(default_factory=dict)
    labelled_in_window: int | None = None
    decides: bool = False

    @property
    def degraded(self) -> bool:
        """Whether some estimated metric is degraded."""
        return bool(self.degraded_metrics)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "metrics": dict(self.metrics),
            "intervals": {k: [lo, hi] for k, (lo, hi) in self.intervals.items()},
            "n_samples": self.n_samples,
            "confidence": self.confidence,
            "calibration": self.calibration.to_dict(),
            "degraded": self.degraded,
            "degraded_metrics": dict(self.degraded_metrics),
            "realized_error": dict(self.realized_error),
            "labelled_in_window": self.labelled_in_window,
            "decides": self.decides,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PerformanceEstimate:
        """Inverse of :meth:`to_dict`."""
        return cls(
            metrics=float_map(data["metrics"]),
            intervals={str(k): (float(lo), float(hi)) for k, (lo, hi) in data["intervals"].items()},
            n_samples=int(data["n_samples"]),
            confidence=float(data.get("confidence", 0.95)),
            calibration=Calibration.from_dict(data.get("calibration") or {"method": "none"}),
            degraded_metrics=float_map(data.get("degraded_metrics")),
            realized_error=float_map(data.get("realized_error")),
            # absent from estimates stored before they were kept
            labelled_in_window=(
                None if data.get("labelled_in_window") is None else int(data["labelled_in_window"])
            ),
            decides=bool(data.get("decides", False)),
        )


@dataclass(frozen=True)
class PerformanceSnapshot:
    """Rolling performance over the labelled window, compared with the baseline.

    Attributes:
        precision, recall, accuracy, f1_score: metrics over the window (binary, with
            ``positive_label`` as the positive class; for ``task="multiclass"`` the macro
            precision, recall and F1 and the accuracy; 0.0 for ``task="regression"``).
        n_samples: labelled predictions in the window.
        enough_samples: ``n_samples >= min_samples``; no verdict is given below it.
        degraded: some metric is more than ``threshold`` (relative) below its baseline.
        degraded_metrics: names of those metrics with their relative drops.
        baseline: the baseline metrics compared against (empty when none is set).
        threshold: relative drop that counts as degradation.
        timestamp: when the snapshot was taken (UTC).
        true_positives, false_positives, false_negatives, true_negatives: the confusion
            matrix of the window, every label other than ``positive_label`` counting as
            negative (zero in snapshots made before the counts were kept).
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        task_metrics: the multiclass or regression metrics by name (empty for binary,
            whose metrics are the four fields).
        class_recall: multiclass only, the recall of each true class in the window (keyed
            by the class as text).
        estimated: with performance estimation set up, the metrics estimated from the
            model's confidence over the latest predictions, labelled or not.
    """

    precision: float
    recall: float
    accuracy: float
    f1_score: float
    n_samples: int
    enough_samples: bool
    degraded: bool
    degraded_metrics: dict[str, float]
    baseline: dict[str, float]
    threshold: float
    timestamp: datetime = field(default_factory=utcnow)
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    true_negatives: int = 0
    task: str = "binary"
    task_metrics: dict[str, float] = field(default_factory=dict)
    class_recall: dict[str, float] = field(default_factory=dict)
    estimated: PerformanceEstimate | None = None

    @property
    def metrics(self) -> dict[str, float]:
        """The task's metrics by name (binary: precision, recall, accuracy, f1_score)."""
        if self.task != "binary":
            return dict(self.task_metrics)
        return {
            "precision": self.precision,
            "recall": self.recall,
            "accuracy": self.accuracy,
            "f1_score": self.f1_score,
        }

    @property
    def confusion(self) -> dict[str, int]:
        """The four confusion-matrix counts by name."""
        return {
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
            "true_negatives": self.true_negatives,
        }

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot as a JSON-serialisable dict."""
        extra: dict[str, Any] = {}
        if self.task != "binary":  # binary snapshots keep the seed's keys, and only them
            extra = {
                "task": self.task,
                "class_recall": dict(self.class_recall),
                "precision": self.precision,
                "recall": self.recall,
                "accuracy": self.accuracy,
                "f1_score": self.f1_score,
            }
        return {
            **self.metrics,
            **extra,
            "n_samples": self.n_samples,
            "enough_samples": self.enough_samples,
            "degraded": self.degraded,
            "degraded_metrics": dict(self.degraded_metrics),
            "baseline": dict(self.baseline),
            "threshold": self.threshold,
            "timestamp": self.timestamp.isoformat(),
            **self.confusion,
            # only with estimation, so snapshots without it keep the seed's keys
            **({"estimated": self.estimated.to_dict()} if self.estimated is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PerformanceSnapshot:
        """Inverse of :meth:`to_dict`."""
        task = str(data.get("task", "binary"))  # absent from binary snapshots
        names = _TASK_METRICS.get(task, ())
        return cls(
            task=task,
            task_metrics={n: float(data[n]) for n in names if n in data},
            class_recall=float_map(data.get("class_recall")),
            precision=float(data["precision"]),
            recall=float(data["recall"]),
            accuracy=float(data["accuracy"]),
            f1_score=float(data["f1_score"]),
            n_samples=int(data["n_samples"]),
            enough_samples=bool(data["enough_samples"]),
            degraded=bool(data["degraded"]),
            degraded_metrics=float_map(data["degraded_metrics"]),
            baseline=float_map(data["baseline"]),
            threshold=float(data["threshold"]),
            timestamp=datetime.fromisoformat(str(data["timestamp"])),
            # absent from snapshots stored before the counts were kept
            true_positives=int(data.get("true_positives", 0)),
            false_positives=int(data.get("false_positives", 0)),
            false_negatives=int(data.get("false_negatives", 0)),
            true_negatives=int(data.get("true_negatives", 0)),
            estimated=(
                PerformanceEstimate.from_dict(data["estimated"]) if data.get("estimated") else None
            ),
        )
