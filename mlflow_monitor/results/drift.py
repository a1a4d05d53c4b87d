"""Results of drift checks: per-feature tests, the alarm over checks, the check's verdict, and
prediction drift (the model's outputs against the reference's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlflow_monitor.results.clock import utcnow
from mlflow_monitor.results.parsing import float_map, optional_float

__all__ = ["DriftAlarm", "DriftResult", "FeatureDrift", "FeatureShare", "PredictionDrift"]


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
            half a standard deviation); for a categorical column of mixed tabular input, the
            Jensen-Shannon distance (0 to 1) of the category shares.
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
        return cls(
            name=str(data["name"]),
            statistic=float(data["statistic"]),
            p_value=float(data["p_value"]),
            adjusted_p_value=float(data["adjusted_p_value"]),
            drift_detected=bool(data["drift_detected"]),
            kind=str(data.get("kind", "numeric")),
            test=str(data.get("test", "ks")),
            effect_size=optional_float(data.get("effect_size")),
            effect_size_name=data.get("effect_size_name"),
            unseen_share=optional_float(data.get("unseen_share")),
            changed_tokens=float_map(data.get("changed_tokens")),
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
            mmd_p_value=optional_float(data.get("mmd_p_value")),
            score=float(data.get("score", 0.0)),
            effect_size=float(data.get("effect_size", 0.0)),
            alarm=DriftAlarm.from_dict(data["alarm"]) if data.get("alarm") else None,
            attribution=tuple(FeatureShare.from_dict(a) for a in data.get("attribution") or []),
        )


# The metric names of the non-binary tasks (performance/tasks.py holds their definitions;
# results sit below performance, so the names are repeated here to read snapshots back).
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
