"""Typed, immutable results of drift and performance checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "Calibration",
    "CheckResult",
    "ColumnQuality",
    "DataQualityResult",
    "DriftAlarm",
    "DriftResult",
    "FeatureDrift",
    "FeatureShare",
    "PerformanceEstimate",
    "PerformanceSnapshot",
    "PredictionDrift",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class FeatureDrift:
    """Result of the univariate test of one feature (an input column, or a text column's
    descriptor such as ``review.text.length``).

    Attributes:
        name: feature name.
        statistic: the test's statistic: KS (largest gap between the two empirical CDFs)
            for numbers, chi-square for categories.
        p_value: raw p-value.
        adjusted_p_value: p-value after the multiple-testing correction (what the verdict
            uses, and what check runs show as ``ks_p_value``).
        drift_detected: ``adjusted_p_value < p_val``.
        kind: the column's kind: ``numeric``, ``categorical``, ``datetime`` or ``text``.
        test: ``"ks"`` or ``"chi2"``.
        effect_size: how far the distributions are apart, whatever the sample sizes:
            ``wasserstein/std`` (the Wasserstein distance in reference standard deviations)
            for numbers, Jensen-Shannon distance (0 to 1) for categories; None when not
            computed (the numeric feature rows of a monitor without column kinds).
        effect_size_name: the name of ``effect_size``'s measure.
        unseen_share: categorical columns: the share of tested values the reference never
            had.
        changed_tokens: text columns: the tokens whose share of the words changed most,
            with the change (current share minus reference share).
        effect: Wasserstein-1 distance between the feature's reference and tested values,
            in units of the reference's standard deviation (0.5: the values moved by about
            half a standard deviation).
        mean_shift: difference of the means in reference standard deviations (signed).
    """

    name: str
    statistic: float
    p_value: float
    adjusted_p_value: float
    drift_detected: bool
    kind: str = "numeric"
    test: str = "ks"
    effect_size: float | None = None
    effect_size_name: str | None = None
    unseen_share: float | None = None
    changed_tokens: dict[str, float] = field(default_factory=dict)
    effect: float = 0.0
    mean_shift: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serialisable dict (the seed's keys, and the others
        when they are set)."""
        data: dict[str, Any] = {
            "name": self.name,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "adjusted_p_value": self.adjusted_p_value,
            "drift_detected": self.drift_detected,
            "effect": self.effect,
            "mean_shift": self.mean_shift,
        }
        if self.effect_size is not None or self.kind != "numeric" or self.test != "ks":
            data.update(
                kind=self.kind,
                test=self.test,
                effect_size=self.effect_size,
                effect_size_name=self.effect_size_name,
                unseen_share=self.unseen_share,
                changed_tokens=dict(self.changed_tokens),
            )
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureDrift:
        """Inverse of :meth:`to_dict`."""
        effect, unseen = data.get("effect_size"), data.get("unseen_share")
        return cls(
            name=str(data["name"]),
            statistic=float(data["statistic"]),
            p_value=float(data["p_value"]),
            adjusted_p_value=float(data["adjusted_p_value"]),
            drift_detected=bool(data["drift_detected"]),
            kind=str(data.get("kind", "numeric")),
            test=str(data.get("test", "ks")),
            effect_size=None if effect is None else float(effect),
            effect_size_name=data.get("effect_size_name"),
            unseen_share=None if unseen is None else float(unseen),
            changed_tokens={str(k): float(v) for k, v in data.get("changed_tokens", {}).items()},
            # absent from results stored before effect sizes were kept
            effect=float(data.get("effect", 0.0)),
            mean_shift=float(data.get("mean_shift", 0.0)),
        )


@dataclass(frozen=True)
class FeatureShare:
    """One feature's part in a drift alarm.

    Attributes:
        name: feature name.
        share: its fraction of the evidence (the shares of an alarm sum to 1).
        effect: its effect size (:attr:`FeatureDrift.effect`).
    """

    name: str
    share: float
    effect: float

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serialisable dict."""
        return {"name": self.name, "share": self.share, "effect": self.effect}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureShare:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["name"]), float(data["share"]), float(data["effect"]))


@dataclass(frozen=True)
class DriftAlarm:
    """What the alarm policy concluded after one drift check.

    A check's ``drift_detected`` says whether that one window was significant; the alarm
    says whether the evidence gathered over consecutive checks is strong enough to act on
    (retraining, alerts). See :mod:`mlflow_monitor.drift.alarm`.

    Attributes:
        fired: the accumulated evidence crossed the threshold at this check.
        statistic: the accumulated evidence (CUSUM of check scores) after this check; the
            policy starts again from 0 after a check whose alarm fired.
        threshold: the value of ``statistic`` that fires the alarm.
        allowance: the score each check must exceed to add evidence.
        score: this check's standardised score (0 when its effect was below the minimum).
        checks: consecutive checks whose evidence is in ``statistic`` (including this one).
        expected_checks: expected number of checks between false alarms without drift.
        min_effect: the effect size below which a check adds no evidence.
        reason: the conclusion in words.
    """

    fired: bool
    statistic: float
    threshold: float
    allowance: float
    score: float
    checks: int
    expected_checks: float
    min_effect: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serialisable dict."""
        return {
            "fired": self.fired,
            "statistic": self.statistic,
            "threshold": self.threshold,
            "allowance": self.allowance,
            "score": self.score,
            "checks": self.checks,
            "expected_checks": self.expected_checks,
            "min_effect": self.min_effect,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftAlarm:
        """Inverse of :meth:`to_dict`."""
        return cls(
            fired=bool(data["fired"]),
            statistic=float(data["statistic"]),
            threshold=float(data["threshold"]),
            allowance=float(data["allowance"]),
            score=float(data["score"]),
            checks=int(data["checks"]),
            expected_checks=float(data["expected_checks"]),
            min_effect=float(data["min_effect"]),
            reason=str(data["reason"]),
        )


@dataclass(frozen=True)
class DriftResult:
    """Outcome of one drift check.

    Attributes:
        drift_detected: ``p_value < p_val``: this window differs from the reference. One
            check's verdict; whether to act on it is the :attr:`alarm`'s business.
        p_value: the check's p-value, family-wise over all its tests: the multivariate MMD
            test and the corrected per-feature tests (``min(1, 2 * min(mmd, features))``).
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
        mmd_p_value: p-value of the MMD permutation test alone (None in results stored
            before the verdict combined the tests).
        score: the check's standardised evidence, ``Φ⁻¹(1 - p_value)`` (0 at p = 0.5, about
            1.64 at p = 0.05), which the alarm policy accumulates.
        effect_size: the largest per-feature :attr:`FeatureDrift.effect`.
        alarm: the alarm policy's conclusion, None when no policy saw this check.
        attribution: the features that drove the evidence, largest share first (the
            features with any share; empty without evidence).
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
    mmd_p_value: float | None = None
    score: float = 0.0
    effect_size: float = 0.0
    alarm: DriftAlarm | None = None
    attribution: tuple[FeatureShare, ...] = ()

    @property
    def alarm_fired(self) -> bool:
        """Whether the alarm policy fired at this check."""
        return self.alarm is not None and self.alarm.fired

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
            "mmd_p_value": self.mmd_p_value,
            "score": self.score,
            "effect_size": self.effect_size,
            "alarm": None if self.alarm is None else self.alarm.to_dict(),
            "attribution": [a.to_dict() for a in self.attribution],
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
            # absent from results stored before alarms, scores and effect sizes
            mmd_p_value=None if data.get("mmd_p_value") is None else float(data["mmd_p_value"]),
            score=float(data.get("score", 0.0)),
            effect_size=float(data.get("effect_size", 0.0)),
            alarm=DriftAlarm.from_dict(data["alarm"]) if data.get("alarm") else None,
            attribution=tuple(FeatureShare.from_dict(a) for a in data.get("attribution") or []),
        )


# The metric names of the non-binary tasks (performance/tasks.py holds their definitions;
# results sit below performance, so the names are repeated here to read snapshots back).
_TASK_METRICS = {
    "multiclass": ("accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_f1"),
    "regression": ("mae", "rmse", "r2", "mape"),
}


_CALIBRATION_SCORES = ("brier_before", "brier_after", "ece_before", "ece_after")


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _floats(values: Mapping[str, Any]) -> dict[str, float]:
    return {str(k): float(v) for k, v in values.items()}


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
            **{k: _optional_float(data.get(k)) for k in _CALIBRATION_SCORES},
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
        realized_error: in a performance check whose labelled window is full enough, the
            estimate minus the realized value of each metric both have.
    """

    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    n_samples: int
    confidence: float = 0.95
    calibration: Calibration = field(default_factory=lambda: Calibration("none"))
    degraded_metrics: dict[str, float] = field(default_factory=dict)
    realized_error: dict[str, float] = field(default_factory=dict)

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
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PerformanceEstimate:
        """Inverse of :meth:`to_dict`."""
        return cls(
            metrics={str(k): float(v) for k, v in data["metrics"].items()},
            intervals={str(k): (float(lo), float(hi)) for k, (lo, hi) in data["intervals"].items()},
            n_samples=int(data["n_samples"]),
            confidence=float(data.get("confidence", 0.95)),
            calibration=Calibration.from_dict(data.get("calibration") or {"method": "none"}),
            degraded_metrics=_floats(data.get("degraded_metrics", {})),
            realized_error=_floats(data.get("realized_error", {})),
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
            estimated=(
                PerformanceEstimate.from_dict(data["estimated"]) if data.get("estimated") else None
            ),
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
        quality: drift checks that ran: the data quality of the tested window.
        prediction_drift: drift checks that ran, with reference outputs: the model's recent
            outputs against the reference's.
    """

    kind: str
    status: str
    drift: DriftResult | None = None
    performance: PerformanceSnapshot | None = None
    reason: str | None = None
    triggered: bool = False
    timestamp: datetime = field(default_factory=utcnow)
    quality: DataQualityResult | None = None
    prediction_drift: PredictionDrift | None = None

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
            **({"quality": self.quality.to_dict()} if self.quality is not None else {}),
            **(
                {"prediction_drift": self.prediction_drift.to_dict()}
                if self.prediction_drift is not None
                else {}
            ),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        """Inverse of :meth:`to_dict`."""
        drift, performance = data.get("drift"), data.get("performance")
        quality, outputs = data.get("quality"), data.get("prediction_drift")
        return cls(
            kind=str(data["kind"]),
            status=str(data["status"]),
            drift=DriftResult.from_dict(drift) if drift else None,
            performance=PerformanceSnapshot.from_dict(performance) if performance else None,
            reason=data.get("reason"),
            triggered=bool(data.get("triggered", False)),
            timestamp=datetime.fromisoformat(str(data["timestamp"])),
            quality=DataQualityResult.from_dict(quality) if quality else None,
            prediction_drift=PredictionDrift.from_dict(outputs) if outputs else None,
        )


@dataclass(frozen=True)
class ColumnQuality:
    """Data quality of one input column in a tested window, against the reference.

    Attributes:
        name: the column.
        kind: ``numeric``, ``categorical``, ``datetime`` or ``text``.
        missing_share: share of the window's values that are missing (None, NaN) or
            unreadable as the column's kind.
        reference_missing_share: the same share in the reference.
        out_of_range_share: numeric and datetime columns: share of present values outside
            the reference's range (None for other kinds).
        unseen_share: categorical columns: share of present values the reference never had
            (None for other kinds).
    """

    name: str
    kind: str
    missing_share: float
    reference_missing_share: float
    out_of_range_share: float | None = None
    unseen_share: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serialisable dict."""
        return {
            "name": self.name,
            "kind": self.kind,
            "missing_share": self.missing_share,
            "reference_missing_share": self.reference_missing_share,
            "out_of_range_share": self.out_of_range_share,
            "unseen_share": self.unseen_share,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnQuality:
        """Inverse of :meth:`to_dict`."""
        out, unseen = data.get("out_of_range_share"), data.get("unseen_share")
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            missing_share=float(data["missing_share"]),
            reference_missing_share=float(data.get("reference_missing_share", 0.0)),
            out_of_range_share=None if out is None else float(out),
            unseen_share=None if unseen is None else float(unseen),
        )


@dataclass(frozen=True)
class DataQualityResult:
    """Data quality of a tested window: per column against the reference, and its schema.

    Attributes:
        n_rows: rows in the window.
        columns: one entry per reference column, in the reference's order.
        missing_columns: reference columns no row of the window has.
        new_columns: columns of the window the reference does not have.
        type_changes: column to ``"<reference kind> -> <kind now>"`` for a column whose
            present values are mostly unreadable as the reference's kind.
        timestamp: when it was computed (UTC).
    """

    n_rows: int
    columns: tuple[ColumnQuality, ...]
    missing_columns: tuple[str, ...] = ()
    new_columns: tuple[str, ...] = ()
    type_changes: dict[str, str] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=utcnow)

    @property
    def schema_changes(self) -> int:
        """Missing columns, new columns and type changes, counted together."""
        return len(self.missing_columns) + len(self.new_columns) + len(self.type_changes)

    @property
    def max_missing_share(self) -> float:
        """The largest missing share of any column (0 without columns)."""
        return max((c.missing_share for c in self.columns), default=0.0)

    @property
    def max_unseen_share(self) -> float:
        """The largest unseen-category share of any categorical column (0 without any)."""
        return max((c.unseen_share or 0.0 for c in self.columns), default=0.0)

    @property
    def max_out_of_range_share(self) -> float:
        """The largest out-of-range share of any numeric or datetime column."""
        return max((c.out_of_range_share or 0.0 for c in self.columns), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-serialisable dict."""
        return {
            "n_rows": self.n_rows,
            "columns": [c.to_dict() for c in self.columns],
            "missing_columns": list(self.missing_columns),
            "new_columns": list(self.new_columns),
            "type_changes": dict(self.type_changes),
            "schema_changes": self.schema_changes,
            "timestamp": self.timestamp.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataQualityResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            n_rows=int(data["n_rows"]),
            columns=tuple(ColumnQuality.from_dict(c) for c in data["columns"]),
            missing_columns=tuple(str(c) for c in data.get("missing_columns", ())),
            new_columns=tuple(str(c) for c in data.get("new_columns", ())),
            type_changes={str(k): str(v) for k, v in data.get("type_changes", {}).items()},
            timestamp=datetime.fromisoformat(str(data["timestamp"])),
        )


@dataclass(frozen=True)
class PredictionDrift:
    """The outcome of one prediction drift test.

    Attributes:
        drift_detected: some output's corrected p-value is below ``p_val``.
        outputs: one result per compared output: ``prediction`` (class balance, or the
            regression value), ``probability`` (the score).
        n_reference: reference outputs compared.
        n_test: recent outputs compared.
        p_val: the significance level.
    """

    drift_detected: bool
    outputs: tuple[FeatureDrift, ...]
    n_reference: int
    n_test: int
    p_val: float

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-serialisable dict."""
        return {
            "drift_detected": self.drift_detected,
            "outputs": [o.to_dict() for o in self.outputs],
            "n_reference": self.n_reference,
            "n_test": self.n_test,
            "p_val": self.p_val,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PredictionDrift:
        """Inverse of :meth:`to_dict`."""
        return cls(
            drift_detected=bool(data["drift_detected"]),
            outputs=tuple(FeatureDrift.from_dict(o) for o in data["outputs"]),
            n_reference=int(data["n_reference"]),
            n_test=int(data["n_test"]),
            p_val=float(data["p_val"]),
        )
