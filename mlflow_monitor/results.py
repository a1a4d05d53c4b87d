"""Typed, immutable results of drift and performance checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["CheckResult", "DriftResult", "FeatureDrift", "PerformanceSnapshot", "utcnow"]


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class FeatureDrift:
    """Result of the univariate test (two-sample Kolmogorov-Smirnov) of one feature.

    Attributes:
        name: feature name.
        statistic: KS statistic (largest gap between the two empirical CDFs).
        p_value: raw p-value.
        adjusted_p_value: p-value after the multiple-testing correction.
        drift_detected: ``adjusted_p_value < p_val``.
    """

    name: str
    statistic: float
    p_value: float
    adjusted_p_value: float
    drift_detected: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serialisable dict."""
        return {
            "name": self.name,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "adjusted_p_value": self.adjusted_p_value,
            "drift_detected": self.drift_detected,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureDrift:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=str(data["name"]),
            statistic=float(data["statistic"]),
            p_value=float(data["p_value"]),
            adjusted_p_value=float(data["adjusted_p_value"]),
            drift_detected=bool(data["drift_detected"]),
        )


@dataclass(frozen=True)
class DriftResult:
    """Outcome of one drift check.

    Attributes:
        drift_detected: the multivariate MMD test rejected "same distribution" at ``p_val``.
        p_value: permutation p-value of the MMD test.
        distance: observed MMD² between reference and test window.
        distance_threshold: MMD² that would have been significant at ``p_val``.
        p_val: significance level of the test.
        n_reference: rows in the reference sample.
        n_test: rows in the test window.
        backend: ``"builtin"`` or ``"alibi-detect"``.
        sigma: Gaussian kernel bandwidth used.
        features: per-feature tests, in feature order.
        correction: multiple-testing correction applied to the per-feature p-values.
        timestamp: when the check finished (UTC).
    """

    drift_detected: bool
    p_value: float
    distance: float
    distance_threshold: float
    p_val: float
    n_reference: int
    n_test: int
    backend: str
    sigma: float
    features: tuple[FeatureDrift, ...]
    correction: str
    timestamp: datetime = field(default_factory=utcnow)

    @property
    def drifted_features(self) -> list[str]:
        """Names of the features whose own test flags drift, most significant first."""
        flagged = [f for f in self.features if f.drift_detected]
        return [f.name for f in sorted(flagged, key=lambda f: f.adjusted_p_value)]

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-serialisable dict."""
        return {
            "drift_detected": self.drift_detected,
            "p_value": self.p_value,
            "distance": self.distance,
            "distance_threshold": self.distance_threshold,
            "p_val": self.p_val,
            "n_reference": self.n_reference,
            "n_test": self.n_test,
            "backend": self.backend,
            "sigma": self.sigma,
            "correction": self.correction,
            "drifted_features": self.drifted_features,
            "features": [f.to_dict() for f in self.features],
            "timestamp": self.timestamp.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            drift_detected=bool(data["drift_detected"]),
            p_value=float(data["p_value"]),
            distance=float(data["distance"]),
            distance_threshold=float(data["distance_threshold"]),
            p_val=float(data["p_val"]),
            n_reference=int(data["n_reference"]),
            n_test=int(data["n_test"]),
            backend=str(data["backend"]),
            sigma=float(data["sigma"]),
            features=tuple(FeatureDrift.from_dict(f) for f in data["features"]),
            correction=str(data["correction"]),
            timestamp=datetime.fromisoformat(str(data["timestamp"])),
        )


# The metric names of the non-binary tasks (performance/tasks.py holds their definitions;
# results sit below performance, so the names are repeated here to read snapshots back).
_TASK_METRICS = {
    "multiclass": ("accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_f1"),
    "regression": ("mae", "rmse", "r2", "mape"),
}


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
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PerformanceSnapshot:
        """Inverse of :meth:`to_dict`."""
        task = str(data.get("task", "binary"))  # absent from binary snapshots
        names = _TASK_METRICS.get(task, ())
        return cls(
            task=task,
            task_metrics={n: float(data[n]) for n in names if n in data},
            class_recall={str(k): float(v) for k, v in data.get("class_recall", {}).items()},
            precision=float(data["precision"]),
            recall=float(data["recall"]),
            accuracy=float(data["accuracy"]),
            f1_score=float(data["f1_score"]),
            n_samples=int(data["n_samples"]),
            enough_samples=bool(data["enough_samples"]),
            degraded=bool(data["degraded"]),
            degraded_metrics={str(k): float(v) for k, v in data["degraded_metrics"].items()},
            baseline={str(k): float(v) for k, v in data["baseline"].items()},
            threshold=float(data["threshold"]),
            timestamp=datetime.fromisoformat(str(data["timestamp"])),
            # absent from snapshots stored before the counts were kept
            true_positives=int(data.get("true_positives", 0)),
            false_positives=int(data.get("false_positives", 0)),
            false_negatives=int(data.get("false_negatives", 0)),
            true_negatives=int(data.get("true_negatives", 0)),
        )


@dataclass(frozen=True)
class CheckResult:
    """What one on-demand or scheduled check did.

    Attributes:
        kind: ``"drift"`` or ``"performance"``.
        status: ``"ok"``, ``"drift"``, ``"degraded"`` or ``"skipped"``.
        drift: the drift result (drift checks that ran).
        performance: the performance snapshot (performance checks that ran).
        reason: why a check was skipped.
        triggered: whether the check fired a retraining trigger.
        timestamp: when the check finished (UTC).
    """

    kind: str
    status: str
    drift: DriftResult | None = None
    performance: PerformanceSnapshot | None = None
    reason: str | None = None
    triggered: bool = False
    timestamp: datetime = field(default_factory=utcnow)

    @property
    def ran(self) -> bool:
        """True unless the check was skipped."""
        return self.status != "skipped"

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-serialisable dict."""
        return {
            "kind": self.kind,
            "status": self.status,
            "drift": self.drift.to_dict() if self.drift else None,
            "performance": self.performance.to_dict() if self.performance else None,
            "reason": self.reason,
            "triggered": self.triggered,
            "timestamp": self.timestamp.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        """Inverse of :meth:`to_dict`."""
        drift, performance = data.get("drift"), data.get("performance")
        return cls(
            kind=str(data["kind"]),
            status=str(data["status"]),
            drift=DriftResult.from_dict(drift) if drift else None,
            performance=PerformanceSnapshot.from_dict(performance) if performance else None,
            reason=data.get("reason"),
            triggered=bool(data.get("triggered", False)),
            timestamp=datetime.fromisoformat(str(data["timestamp"])),
        )
