"""The checks: what one drift or performance check computes from the store.

Each check reads its window from the inference store (so rows and labels recorded by any
process count), runs the statistics and returns a :class:`~mlflow_monitor.results.CheckResult`
with, when it calls for retraining, the trigger it asks for. What happens next (logging the
check run, exporting metrics, firing the trigger) is the monitor's business.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from mlflow_monitor.config import MonitorConfig
from mlflow_monitor.drift import DriftDetector
from mlflow_monitor.drift.alarm import AlarmPolicy
from mlflow_monitor.drift.predictions import OutputReference
from mlflow_monitor.exceptions import MonitorError
from mlflow_monitor.performance import PerformanceTracker
from mlflow_monitor.performance.estimation import PerformanceEstimator, estimated_degradation
from mlflow_monitor.quality import fill_missing, matrix_quality, tabular_quality
from mlflow_monitor.results import (
    CheckResult,
    DataQualityResult,
    DriftAlarm,
    DriftResult,
    PerformanceEstimate,
    PerformanceSnapshot,
    PredictionDrift,
)
from mlflow_monitor.retraining.triggers import DATA_DRIFT, DATA_QUALITY, PERFORMANCE_DEGRADATION
from mlflow_monitor.store import InferenceStore

__all__ = ["CheckOutcome", "DriftCheck", "PerformanceCheck", "alarm_policy"]

logger = logging.getLogger(__name__)


def alarm_policy(config: MonitorConfig) -> AlarmPolicy:
    """The drift alarm policy of the options ``drift_alarm_checks``,
    ``drift_alarm_allowance`` and ``drift_min_effect``."""
    return AlarmPolicy(
        config.drift_alarm_checks, config.drift_alarm_allowance, config.drift_min_effect
    )


@dataclass(frozen=True)
class CheckOutcome:
    """A check's result, the retraining trigger it asks for and what its run should show.

    Attributes:
        result: the check result.
        trigger: ``(reason, details)`` when the result calls for retraining, else None.
        samples: for a drift check that ran, the reference and tested rows and the feature
            names (the check run's plots and tables are made from them).
    """

    result: CheckResult
    trigger: tuple[str, dict[str, Any]] | None = None
    samples: dict[str, Any] = field(default_factory=dict)


def _skipped(kind: str, reason: str, **parts: Any) -> CheckOutcome:
    return CheckOutcome(CheckResult(kind, "skipped", reason=reason, **parts))


class DriftCheck:
    """Tests the feature rows recorded since the last drift check against the reference,
    and asks the alarm policy whether the evidence so far calls for retraining.

    A check's ``drift`` status says the window was significant; only a fired alarm asks for
    a retraining trigger. Before each check the policy continues from the latest drift
    check in the store when another process ran it (a former leader), so the evidence is
    the stream's, not the process's.

    Args:
        store: where the rows wait.
        config: ``drift_min_samples``, ``drift_window_size`` and the alarm options.
        alarm: the alarm policy; built from ``config`` by default.
    """

    def __init__(
        self, store: InferenceStore, config: MonitorConfig, alarm: AlarmPolicy | None = None
    ) -> None:
        self.store = store
        self.config = config
        self.outputs: OutputReference | None = None  # the reference's outputs, if given
        self.alarm = alarm if alarm is not None else alarm_policy(config)
        self._lock = threading.Lock()

    def _continue_stored_evidence(self) -> None:
        try:
            stored = self.store.last_checks().get("drift")
        except MonitorError as exc:
            logger.warning("cannot read the last drift check from the store: %s", exc)
            return
        drift = (stored or {}).get("drift") or {}
        if not drift.get("alarm"):
            return
        try:
            alarm = DriftAlarm.from_dict(drift["alarm"])
            when = datetime.fromisoformat(str(drift["timestamp"]))
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("ignoring the stored drift alarm state: %r", exc)
            return
        self.alarm.adopt(alarm, when)

    def pending_rows(self) -> int:
        """Rows waiting for the next check (at most one window's worth)."""
        return min(self.store.pending_features(), self.config.drift_window_size)

    def run(self, detector: DriftDetector | None) -> CheckOutcome:
        """Consume the pending rows and test them, or skip while too few wait.

        Raises:
            Exception: whatever the detector raised on the window (the rows are consumed).
        """
        cfg = self.config
        if detector is None or not detector.is_fitted:
            return _skipped(
                "drift", "no reference data; call setup_drift_detection(reference) first"
            )
        with self._lock:
            rows = self.store.take_features(cfg.drift_min_samples, cfg.drift_window_size)
            if rows is None:
                have = self.pending_rows()
                return _skipped(
                    "drift", f"need {cfg.drift_min_samples} new feature rows, have {have}"
                )
            reference = detector.reference_  # replaced, not changed, by a reference update
            batch, quality = _window(detector, rows)
            result = detector.detect(batch)
            samples = {
                "reference": reference,
                "test": detector.last_batch_,
                "feature_names": list(detector.feature_names_),
            }
            self._continue_stored_evidence()
            result = replace(result, alarm=self.alarm.update(result))
        status = "drift" if result.drift_detected else "ok"
        trigger = (DATA_DRIFT, _drift_details(result)) if result.alarm_fired else None
        if trigger is None and quality is not None:
            trigger = _quality_trigger(quality, cfg)
        outputs = self._prediction_drift(result.n_test)
        checked = CheckResult(
            "drift", status, drift=result, quality=quality, prediction_drift=outputs
        )
        return CheckOutcome(checked, trigger, samples)

    def _prediction_drift(self, n: int) -> PredictionDrift | None:
        """The latest ``n`` outputs (as many as the tested rows) against the reference's."""
        reference = self.outputs
        if reference is None:
            return None
        # Vectors of class probabilities are read only where the reference has them to test.
        recent: Any = (
            self.store.recent_outputs(n)
            if reference.class_probabilities is not None
            else self.store.recent_predictions(n)
        )
        cfg = self.config
        return reference.test(recent, cfg.drift_p_value, cfg.drift_feature_correction)


class PerformanceCheck:
    """Computes rolling metrics over the latest labelled window and compares them with the
    baseline; with an estimator, also estimates them over the latest predictions.

    Args:
        store: where the labelled predictions are.
        tracker: the window size, baseline, threshold and minimum number of labels.

    Attributes:
        estimator: a fitted :class:`~mlflow_monitor.performance.PerformanceEstimator` (set by
            ``setup_performance_estimation``), or None.
        positive_label: the class a binary estimator's positive probability is of.
            (A multiclass estimator reads the window's vectors of class probabilities, in
            the order of its ``classes_``.)
        estimation_triggers: whether an estimated degradation fires a retraining trigger
            while the labelled window is too small for a verdict of its own.
    """

    def __init__(self, store: InferenceStore, tracker: PerformanceTracker) -> None:
        self.store = store
        self.tracker = tracker
        self.estimator: PerformanceEstimator | None = None
        self.positive_label: Any = 1
        self.estimation_triggers = True
        self._lock = threading.Lock()

    def snapshot(self) -> PerformanceSnapshot:
        """Metrics over the latest labelled window in the store (labels from any process),
        and the estimate over the latest predictions when an estimator is set."""
        tracker = self.tracker
        pairs = self.store.labelled_window(tracker.window_size)
        with self._lock:
            tracker.clear()
            tracker.update_many(pairs)
            realized = tracker.compute()
        estimator = self.estimator
        if estimator is None:
            return realized
        return replace(realized, estimated=self._estimate(estimator, realized))

    def _estimate(
        self, estimator: PerformanceEstimator, realized: PerformanceSnapshot
    ) -> PerformanceEstimate | None:
        """The estimate over the latest ``window_size`` predictions that carry a
        probability (multiclass: a vector of class probabilities; regression: a finite
        predicted value); None while fewer than ``min_samples`` do.

        It decides the verdict while the labelled window is short, and also while fewer than
        ``min_samples`` of the estimated predictions are labelled: labels arrive late, so the
        labelled window then holds older traffic, which says nothing of the recent one. A
        degradation the labels show still counts (only labels see concept shift).
        """
        tracker = self.tracker
        if estimator.task == "multiclass":
            window = _class_window(
                self.store.recent_outputs(tracker.window_size), estimator.classes_ or []
            )
            if window is None or len(window[1]) < tracker.min_samples:
                return None
            estimate = estimator.estimate(window[0], predictions=window[1])
            return self._judged(estimate, realized)
        if estimator.task == "regression":
            values = _predicted_values(self.store.recent_predictions(tracker.window_size))
            if len(values) < tracker.min_samples:
                return None
            return self._judged(estimator.estimate(values), realized)
        recent = [
            (p, q) for p, q in self.store.recent_predictions(tracker.window_size) if q is not None
        ]
        if len(recent) < tracker.min_samples:
            return None
        probabilities = np.asarray([q for _, q in recent], dtype=float)
        predicted = [1 if p == self.positive_label else 0 for p, _ in recent]
        estimate = estimator.estimate(probabilities, predictions=predicted)
        return self._judged(estimate, realized)

    def _judged(
        self, estimate: PerformanceEstimate, realized: PerformanceSnapshot
    ) -> PerformanceEstimate:
        """The estimate with its degraded metrics, the count of labels among the recent
        predictions, its error when those labels are enough, and whether it decides."""
        tracker = self.tracker
        degraded = estimated_degradation(estimate, realized.baseline, realized.threshold)
        labelled = self.store.labelled_among_recent(tracker.window_size)
        # None: the store cannot tell, and the labelled window counts as the recent traffic's
        covered = labelled is None or labelled >= tracker.min_samples
        same_rows = realized.enough_samples and covered
        error = (
            {
                name: value - realized.metrics[name]
                for name, value in estimate.metrics.items()
                if name in realized.metrics
            }
            if same_rows
            else {}
        )
        decides = not realized.enough_samples or (not covered and not realized.degraded)
        return replace(
            estimate,
            degraded_metrics=degraded,
            realized_error=error,
            labelled_in_window=labelled,
            decides=decides,
        )

    def run(self, snapshot: PerformanceSnapshot | None = None) -> CheckOutcome:
        """The verdict on ``snapshot`` (taken now by default), or a skip without a baseline
        or with too few labels and no estimate.

        The realized metrics decide once ``min_samples`` labels are in the window and they
        are of the recent predictions (or show a degradation); otherwise, with an estimate,
        the estimate decides (see :meth:`_estimate`).
        """
        tracker = self.tracker
        snapshot = snapshot if snapshot is not None else self.snapshot()
        if not tracker.baseline_:
            reason = "no baseline; call setup_performance_baseline(metrics) first"
            return _skipped("performance", reason, performance=snapshot)
        estimated = snapshot.estimated
        if not snapshot.enough_samples and estimated is None:
            reason = f"need {tracker.min_samples} labelled predictions, have {snapshot.n_samples}"
            return _skipped("performance", reason, performance=snapshot)
        if estimated is not None and estimated.decides:
            status = "degraded" if estimated.degraded else "ok"
            trigger = None
            if estimated.degraded and self.estimation_triggers:
                trigger = (PERFORMANCE_DEGRADATION, _estimated_details(snapshot, estimated))
            return CheckOutcome(CheckResult("performance", status, performance=snapshot), trigger)
        status = "degraded" if snapshot.degraded else "ok"
        trigger = (
            (PERFORMANCE_DEGRADATION, _performance_details(snapshot)) if snapshot.degraded else None
        )
        return CheckOutcome(CheckResult("performance", status, performance=snapshot), trigger)


def _predicted_values(recent: list[tuple[Any, float | None]]) -> np.ndarray[Any, Any]:
    """The recent regression predictions that are finite numbers, as floats."""
    values = []
    for prediction, _ in recent:
        try:
            value = float(prediction)
        except (TypeError, ValueError):
            continue
        if np.isfinite(value):
            values.append(value)
    return np.asarray(values, dtype=float)


def _class_window(
    recent: list[tuple[Any, float | None, Any]], classes: list[Any]
) -> tuple[np.ndarray[Any, Any], list[Any]] | None:
    """The recent predictions that carry a vector as wide as ``classes``: their class
    probabilities (rows scaled to sum to 1) and predicted classes (a prediction that is not
    among ``classes`` counts as its vector's most probable class). None without any."""
    k = len(classes)
    rows = [(p, v) for p, _, v in recent if v is not None and len(v) == k]
    if not rows:
        return None
    matrix = np.vstack([v for _, v in rows])
    totals = matrix.sum(axis=1, keepdims=True)
    matrix = np.divide(matrix, totals, out=np.full_like(matrix, 1.0 / k), where=totals > 0)
    known = {c: c for c in classes} | {str(c): c for c in classes}
    predicted = [known.get(p, known.get(str(p), classes[int(np.argmax(v))])) for p, v in rows]
    return matrix, predicted


def _window(detector: DriftDetector, rows: list[Any]) -> tuple[Any, DataQualityResult | None]:
    """The batch the detector tests and the window's data quality.

    Numeric rows keep missing values as NaN: they are counted, then filled with the
    reference's column means for the tests. Raw rows go to the detector as they are; with
    column kinds (a ``TabularEncoder``) their quality is read column by column.
    """
    if detector.preprocess_fn is None:
        matrix = np.vstack(rows)
        reference = detector.reference_
        assert reference is not None
        quality = matrix_quality(reference, matrix, detector.feature_names_)
        return fill_missing(reference, matrix), quality
    if detector.encoder is not None:
        return rows, tabular_quality(detector.encoder, rows)
    return rows, None


def _quality_trigger(
    quality: DataQualityResult, config: MonitorConfig
) -> tuple[str, dict[str, Any]] | None:
    """A data quality trigger when a column's missing or unseen share passes its limit."""
    limits = {
        "missing_share": config.quality_max_missing_share,
        "unseen_share": config.quality_max_unseen_share,
    }
    breaches: dict[str, dict[str, float]] = {}
    for column in quality.columns:
        for measure, limit in limits.items():
            value = getattr(column, measure)
            if limit is not None and value is not None and value > limit:
                breaches.setdefault(column.name, {})[measure] = value
    if not breaches:
        return None
    return DATA_QUALITY, {"columns": breaches, "limits": limits, "n_rows": quality.n_rows}


def _drift_details(result: DriftResult) -> dict[str, Any]:
    return {
        "p_value": result.p_value,
        "distance": result.distance,
        "p_val": result.p_val,
        "n_test": result.n_test,
        "drifted_features": result.drifted_features,
        "effect_size": result.effect_size,
        "alarm": None if result.alarm is None else result.alarm.to_dict(),
        "attribution": [share.to_dict() for share in result.attribution],
    }


def _performance_details(snapshot: PerformanceSnapshot) -> dict[str, Any]:
    return {
        "metrics": snapshot.metrics,
        "baseline": snapshot.baseline,
        "degraded_metrics": snapshot.degraded_metrics,
        "n_samples": snapshot.n_samples,
        "threshold": snapshot.threshold,
        "basis": "realized",
    }


def _estimated_details(
    snapshot: PerformanceSnapshot, estimated: PerformanceEstimate
) -> dict[str, Any]:
    return {
        "metrics": estimated.metrics,
        "intervals": {k: list(v) for k, v in estimated.intervals.items()},
        "baseline": snapshot.baseline,
        "degraded_metrics": estimated.degraded_metrics,
        "n_samples": estimated.n_samples,
        "labelled_samples": snapshot.n_samples,
        "labelled_in_window": estimated.labelled_in_window,
        "threshold": snapshot.threshold,
        "basis": "estimated",
    }
