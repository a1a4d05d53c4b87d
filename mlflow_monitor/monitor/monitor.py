"""ModelMonitor: the place where a monitor's parts meet.

The recording calls (:meth:`ModelMonitor.record_predictions`,
:meth:`ModelMonitor.record_prediction`) go through the monitor's
:class:`~mlflow_monitor.monitor.recording.Recorder`, which validates and hands a batch to the
inference store; all statistics run in :meth:`~ModelMonitor.check_drift` and
:meth:`~ModelMonitor.check_performance`, on demand or on the background scheduler started by
:meth:`~ModelMonitor.start_monitoring`, on windows read from the store, so with a shared store
(``store_uri``) any process can run the checks. A check that ran is logged (the check
logger), exported (the Prometheus metrics) and may fire a retraining trigger (the trigger
policy). Collaborators not passed in are built from the config
(:mod:`mlflow_monitor.monitor.wiring`); the status report is made by
:mod:`mlflow_monitor.monitor.status`, state files by :mod:`mlflow_monitor.monitor.state`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from mlflow_monitor._types import Clock, as_label
from mlflow_monitor.config import MonitorConfig
from mlflow_monitor.drift import DriftDetector
from mlflow_monitor.drift.alarm import AlarmPolicy
from mlflow_monitor.drift.columns import needs_column_kinds
from mlflow_monitor.drift.predictions import OutputReference
from mlflow_monitor.drift.tabular import TabularEncoder
from mlflow_monitor.exceptions import ConfigError, MonitorError
from mlflow_monitor.metrics import MonitorMetrics
from mlflow_monitor.monitor import wiring
from mlflow_monitor.monitor.checks import CheckOutcome, DriftCheck, PerformanceCheck
from mlflow_monitor.monitor.recording import Recorder
from mlflow_monitor.monitor.scheduler import LeaderSchedule, PeriodicJob
from mlflow_monitor.monitor.state import MonitorSnapshot, read_snapshot, write_snapshot
from mlflow_monitor.monitor.status import monitoring_status, recent_checks, stored_triggers
from mlflow_monitor.monitor.targets import TargetRules
from mlflow_monitor.performance.estimation import PerformanceEstimator
from mlflow_monitor.results import CheckResult, PerformanceSnapshot, utcnow
from mlflow_monitor.retraining.triggers import (
    MANUAL,
    Callback,
    TriggerEvent,
    TriggerPolicy,
)
from mlflow_monitor.store import InferenceStore, InMemoryStore, as_list

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from mlflow_monitor.tracking.check_runs import CheckRunLogger

__all__ = ["ModelMonitor", "create_monitor", "load_monitor"]

logger = logging.getLogger(__name__)

_RETENTION_EVERY = 3600.0  # seconds between the leader's prunes (a quarter of a short retention)

# Recent checks drawn on the timeline of a check run's report.
_REPORTED_CHECKS = 100


class ModelMonitor:
    """Monitors one model: data drift, live performance, metrics and retraining triggers.

    Args:
        config: options as a dict (see :class:`~mlflow_monitor.config.MonitorConfig`).
        registry: Prometheus registry for the metrics; a new one per monitor by default.
        clock: returns the current UTC time; tests pass a fake one to move through cooldowns.
        store: where predictions and labels are kept; by default a
            :class:`~mlflow_monitor.store.sql.SqlInferenceStore` when ``store_uri`` is set
            (closed by :meth:`close`), else an :class:`~mlflow_monitor.store.InMemoryStore`.
            A store of your own subclasses :class:`~mlflow_monitor.store.InferenceStore`.
        check_logger: logs each check as an MLflow run; built from the config when
            ``log_checks`` is set.

    Example:
        >>> monitor = create_monitor({"drift_p_value": 0.01})
        >>> monitor.setup_drift_detection(training_features)  # doctest: +SKIP
        >>> pid = monitor.record_prediction(1, 0.93, features=row)  # doctest: +SKIP
        >>> monitor.record_feedback(pid, true_label=0)  # doctest: +SKIP
    """

    def __init__(
        self,
        config: Mapping[str, Any] | MonitorConfig | None = None,
        *,
        registry: CollectorRegistry | None = None,
        clock: Clock = utcnow,
        store: InferenceStore | None = None,
        check_logger: CheckRunLogger | None = None,
    ) -> None:
        self.config = MonitorConfig.from_dict(config)
        cfg = self.config
        self.clock = clock
        self._owns_store = store is None
        self.store: InferenceStore = wiring.default_store(cfg) if store is None else store
        self.performance_tracker = wiring.performance_tracker(cfg)
        self.prometheus_metrics: MonitorMetrics | None = None
        if cfg.enable_prometheus:
            self.prometheus_metrics = MonitorMetrics(
                cfg.metrics_prefix,
                registry,
                cfg.task,
                model=cfg.model_name,
                version=cfg.model_version,
            )
            self.prometheus_metrics.set_levels(cfg.drift_p_value, cfg.performance_threshold)
        self._recorder = Recorder(
            self.store,
            self.prometheus_metrics,
            cfg.enable_drift_detection,
            TargetRules(cfg.task, cfg.positive_label, cfg.classes),
        )
        callbacks = [cfg.retraining_callback] if cfg.retraining_callback else []
        self.triggers = TriggerPolicy(
            cfg.retraining_cooldown_minutes,
            callbacks,
            clock,
            launcher=wiring.project_launcher(cfg),
        )
        self.triggers.on_run_ended = self._retraining_run_ended
        self.check_logger = check_logger if check_logger is not None else wiring.check_logger(cfg)
        self._drift_check = DriftCheck(self.store, cfg)
        self._performance_check = (
            PerformanceCheck(self.store, self.performance_tracker)
            if self.performance_tracker is not None
            else None
        )
        self._last: dict[str, CheckResult] = {}
        self._errors: dict[str, str] = {}
        self._schedule: LeaderSchedule | None = None
        self._started_at: datetime | None = None

    @property
    def drift_alarm(self) -> AlarmPolicy:
        """The policy that turns drift checks into alarms (and retraining triggers)."""
        return self._drift_check.alarm

    @property
    def drift_detector(self) -> DriftDetector | None:
        """The fitted drift detector, or None before :meth:`setup_drift_detection`."""
        return self._recorder.detector

    @drift_detector.setter
    def drift_detector(self, detector: DriftDetector | None) -> None:
        self._recorder.detector = detector

    # -- setup ---------------------------------------------------------------------------

    def setup_drift_detection(
        self,
        reference_data: Any,
        detector: DriftDetector | None = None,
        feature_types: Mapping[str, str] | None = None,
    ) -> DriftDetector | None:
        """Set the reference data (usually the training features) for drift checks.

        Args:
            reference_data: 2-D numeric array or DataFrame; only the most recent
                ``drift_update_ref['last']`` rows are kept. A DataFrame with categorical
                (str, ``category``, bool), datetime or text columns, or with missing values,
                is tested column by column by kind
                (:class:`~mlflow_monitor.drift.tabular.TabularEncoder`); its rows are then
                recorded as they come (dicts or value lists) and read at check time.
            detector: a custom :class:`DriftDetector` (e.g. with a ``preprocess_fn``);
                by default one is built from the config.
            feature_types: column name to kind (``"numeric"``, ``"categorical"``,
                ``"datetime"``, ``"text"``), overriding the inferred kinds; giving it tests
                the reference column by column even when it is all numbers.

        Returns:
            The fitted detector, or None when drift detection is disabled.
        """
        cfg = self.config
        if not cfg.enable_drift_detection:
            logger.warning("setup_drift_detection ignored: enable_drift_detection is False")
            return None
        if detector is None and (feature_types or needs_column_kinds(reference_data)):
            encoder = TabularEncoder(feature_types).fit(reference_data)
            detector = DriftDetector.for_columns(cfg, encoder)
        if detector is None:
            detector = DriftDetector.from_config(cfg)
        detector.fit(reference_data)
        self.drift_detector = detector
        return detector

    def setup_prediction_drift(
        self, reference_predictions: Any, reference_probabilities: Any = None
    ) -> None:
        """Set the model's outputs on the reference, to compare its recent outputs with.

        Each drift check that runs then also tests the latest outputs (as many as the rows
        it tests) against these: the score for binary, the class balance and the predicted
        class's probability for multiclass (and each class's probability, given the
        reference's class probabilities and recorded vectors), the predicted value for
        regression (``CheckResult.prediction_drift``). It needs no labels. The data drift
        verdict is unchanged by it.

        Args:
            reference_predictions: the model's predictions on the reference inputs.
            reference_probabilities: binary: the positive class's probabilities;
                multiclass: the predicted class's, or an ``(n, k)`` matrix of every class's
                (columns in the order of the ``classes`` option); or None.

        Raises:
            DataValidationError: fewer than 2 predictions, or probabilities of another
                length.
        """
        self._drift_check.outputs = OutputReference(
            self.config.task, reference_predictions, reference_probabilities, self.config.classes
        )

    def setup_performance_baseline(self, baseline_metrics: Mapping[str, Any]) -> None:
        """Set the metrics live performance is compared against.

        Args:
            baseline_metrics: ``precision``, ``recall``, ``accuracy``, ``f1_score`` (any
                subset), each in [0, 1], e.g. from the held-out evaluation.
        """
        if self.performance_tracker is None:
            logger.warning("setup_performance_baseline ignored: performance tracking is off")
            return
        self.performance_tracker.set_baseline(baseline_metrics)
        if self.prometheus_metrics is not None:
            self.prometheus_metrics.set_baseline(self.performance_tracker.baseline_)

    def setup_performance_estimation(
        self, reference_outputs: Any, reference_labels: Any
    ) -> PerformanceEstimator:
        """Estimate performance from the model's confidence, before labels arrive.

        Fit on the reference's probabilities and true labels (checked for calibration and
        recalibrated where that helps), the estimator runs in every performance check over
        the latest ``performance_window_size`` predictions, labelled or not: the result's
        ``performance.estimated`` holds the estimated metrics with 95% intervals. While the
        labelled window is smaller than ``performance_min_samples`` the check's verdict
        follows the estimate (and, with ``performance_estimation_triggers``, an estimated
        degradation fires a retraining trigger); once it is full the realized metrics decide,
        and the estimate stays beside them with its error.

        An estimate cannot see concept shift (the same input now has another answer): only
        labels show it.

        Multiclass: the estimate (accuracy and macro F1) is made over the window's recorded
        vectors of class probabilities; predictions recorded without one are left out.

        Regression: the estimate (MAE and RMSE) comes from loss models fit on the reference's
        predictions and their errors (direct loss estimation), and is made over the window's
        predicted values. The monitor's loss models see the predicted value only: they catch
        traffic moving to the values the model erred on most in the reference, not a shift
        that leaves the predictions alike. Loss models that also see the features are
        :class:`~mlflow_monitor.performance.PerformanceEstimator`'s ``reference_features``.

        Args:
            reference_outputs: binary: the positive class's probability for each reference
                row; multiclass: an ``(n, k)`` matrix of class probabilities, columns in the
                order of the ``classes`` option (``0 .. k-1`` without it); regression: the
                predicted values.
            reference_labels: the true labels of those rows (binary: ``positive_label``
                positive; regression: the true values).

        Returns:
            The fitted estimator.

        Raises:
            ConfigError: performance tracking is off.
            DataValidationError: outputs and labels that cannot be used.
        """
        check = self._performance_check
        if check is None:
            raise ConfigError("performance estimation needs enable_performance_tracking=True")
        task = self.config.task
        seed = self.config.random_seed
        positive = self.config.positive_label
        if task == "regression":
            labels = list(reference_labels)
            estimator = PerformanceEstimator(task, random_state=seed).fit(reference_outputs, labels)
        elif task == "multiclass":
            labels = [as_label(v, "reference label") for v in reference_labels]
            estimator = PerformanceEstimator(task, random_state=seed).fit(
                np.asarray(reference_outputs, dtype=float), labels, classes=self.config.classes
            )
        else:
            labels = [int(as_label(v, "reference label") == positive) for v in reference_labels]
            estimator = PerformanceEstimator(task, random_state=seed).fit(
                np.asarray(reference_outputs, dtype=float), labels
            )
        check.positive_label = positive
        check.estimation_triggers = self.config.performance_estimation_triggers
        check.estimator = estimator
        logger.info(
            "performance estimation set up on %d reference rows (calibration: %s)",
            len(labels),
            estimator.calibration_.method if estimator.calibration_ else "none",
        )
        return estimator

    def add_retraining_callback(self, callback: Callback) -> None:
        """Call ``callback(reason, details)`` on every fired retraining trigger."""
        self.triggers.add_callback(callback)

    # -- recording -----------------------------------------------------------------------

    def record_predictions(
        self,
        predictions: Any,
        probabilities: Any = None,
        features: Any = None,
        true_labels: Any = None,
        prediction_ids: Any = None,
    ) -> list[str]:
        """Record a batch of predictions in one store call (validated as whole arrays).

        Args:
            predictions: predicted class labels, a list or 1-D array.
            probabilities: probability of the positive class per prediction, in [0, 1], or
                None.
            features: the model's input features, one row per prediction (a 2-D array or
                DataFrame), used by drift checks; with a detector that has a
                ``preprocess_fn``, a list of raw inputs (a DataFrame becomes a list of row
                dicts, a 2-D object array a list of value lists).
            true_labels: true classes when already known (None entries for unknown ones).
            prediction_ids: your ids, unique; new UUIDs by default.

        Returns:
            The prediction ids, in order, to pass to :meth:`record_feedback`.

        Raises:
            DataValidationError: an argument is malformed; nothing is recorded then.
            FeedbackError: an id is repeated in the batch, or (with the in-memory store)
                already recorded; nothing is recorded then.
        """
        return as_list(
            self._recorder.record_batch(
                predictions, probabilities, features, true_labels, prediction_ids
            )
        )

    def record_batch(
        self,
        predictions: Any,
        probabilities: Any = None,
        features: Any = None,
        true_labels: Any = None,
        prediction_ids: Any = None,
    ) -> Sequence[str]:
        """:meth:`record_predictions` for large batches on a latency-critical path.

        Takes the same arguments and records the same. Generated ids come back as one
        :class:`~mlflow_monitor.store.ids.GeneratedIds` (UUID4-shaped ids sharing a random
        per-batch prefix), whose strings are made only when read (``list(ids)``); numeric
        arrays are stored as arrays. At 10,000 rows this saves about 1 ms per call over
        :meth:`record_predictions`, which returns a list.

        Returns:
            The prediction ids, in order, as a sequence of strings.
        """
        return self._recorder.record_batch(
            predictions, probabilities, features, true_labels, prediction_ids
        )

    def record_prediction(
        self,
        prediction: Any,
        probability: Any = None,
        features: Any = None,
        true_label: Any = None,
        prediction_id: Any = None,
    ) -> str:
        """Record one prediction the model made.

        Args:
            prediction: predicted class label.
            probability: predicted probability of the positive class, in [0, 1], or None.
            features: the model's input features for this prediction (one row), used by
                drift checks; raw input when the drift detector has a ``preprocess_fn``.
            true_label: the true class when already known; later labels go through
                :meth:`record_feedback`.
            prediction_id: your id for this prediction; a new UUID by default.

        Returns:
            The prediction id, to pass to :meth:`record_feedback`.

        Raises:
            DataValidationError: an argument is malformed; nothing is recorded then.
            FeedbackError: ``prediction_id`` was already used (with the in-memory store;
                a database store rejects the repeat in the background and counts it).
        """
        return self._recorder.record_prediction(
            prediction, probability, features, true_label, prediction_id
        )

    def export_store_counters(self) -> None:
        """Bring ``<prefix>_records_dropped_total`` up to the store's count of dropped records.

        Called after each recording; the serve app also calls it before each scrape, so drops
        by the store's background writer show while no traffic arrives.
        """
        self._recorder.export_store_counters()

    def record_feedback(self, prediction_id: Any, true_label: Any) -> None:
        """Attach the true label that arrived later to an earlier prediction.

        With a database store the prediction may have been recorded by any process.

        Args:
            prediction_id: the id :meth:`record_prediction` returned.
            true_label: the true class.

        Raises:
            UnknownPredictionError: the id was never recorded (or, with the in-memory store,
                is older than ``max_pending_feedback`` predictions).
            FeedbackError: the prediction already has a label (labels are not overwritten).
            DataValidationError: the label is not an int or str.

        Rejected labels (all three cases) are counted in ``<prefix>_feedback_rejected_total``.
        """
        self._recorder.record_feedback(prediction_id, true_label)

    # -- checks --------------------------------------------------------------------------

    def check_drift(self) -> CheckResult:
        """Test the feature rows recorded since the last drift check against the reference.

        Rows are consumed by a check that runs; with fewer than ``drift_min_samples`` rows
        the check is skipped and the rows wait for the next one.

        Returns:
            The check result; ``status`` is ``"drift"``, ``"ok"`` or ``"skipped"``.
        """
        if not self.config.enable_drift_detection:
            return self._remember(CheckResult("drift", "skipped", reason="drift detection is off"))
        try:
            outcome = self._drift_check.run(self.drift_detector)
        except Exception as exc:
            self._errors["drift"] = f"{type(exc).__name__}: {exc}"
            raise
        if not outcome.result.ran:
            return self._remember(outcome.result)
        self._errors.pop("drift", None)
        if self.prometheus_metrics is not None and outcome.result.drift is not None:
            self.prometheus_metrics.observe_drift(outcome.result.drift)
        if self.prometheus_metrics is not None and outcome.result.quality is not None:
            self.prometheus_metrics.observe_quality(outcome.result.quality)
        if self.prometheus_metrics is not None and outcome.result.prediction_drift is not None:
            self.prometheus_metrics.observe_prediction_drift(outcome.result.prediction_drift)
        return self._conclude(outcome)

    def pending_drift_rows(self) -> int:
        """Drift rows waiting for the next drift check (at most one window's worth)."""
        return self._drift_check.pending_rows()

    def check_performance(self) -> CheckResult:
        """Compute rolling metrics over the labelled window and compare with the baseline.

        The window is the latest ``performance_window_size`` labelled predictions in the
        store, so feedback received by any process sharing the store counts.

        Returns:
            The check result; ``status`` is ``"degraded"``, ``"ok"`` or ``"skipped"`` (no
            baseline yet, or fewer than ``performance_min_samples`` labels).
        """
        check = self._performance_check
        if check is None:
            reason = "performance tracking is off"
            return self._remember(CheckResult("performance", "skipped", reason=reason))
        try:
            snapshot = check.snapshot()
        except Exception as exc:
            self._errors["performance"] = f"{type(exc).__name__}: {exc}"
            raise
        self._errors.pop("performance", None)
        if self.prometheus_metrics is not None and snapshot.n_samples:
            self.prometheus_metrics.observe_performance(snapshot)
        if self.prometheus_metrics is not None and snapshot.estimated is not None:
            self.prometheus_metrics.observe_estimate(snapshot.estimated)
        outcome = check.run(snapshot)
        return self._conclude(outcome) if outcome.result.ran else self._remember(outcome.result)

    def _conclude(self, outcome: CheckOutcome) -> CheckResult:
        """Log a check that ran, then fire its trigger naming the check run.

        Whether the trigger will fire (its cooldown) is known before the run is logged, so
        the run's tags and report say it; the trigger fires after, with the run's id.
        """
        result = outcome.result
        if outcome.trigger is not None:
            self._learn_stored_triggers()
            result = replace(result, triggered=not self.triggers.in_cooldown(outcome.trigger[0]))
        run_id = None
        if self.check_logger is not None:
            history = recent_checks(self.store, _REPORTED_CHECKS)
            run_id = self.check_logger.log_check(result, **outcome.samples, history=history)
        if outcome.trigger is None:
            return self._remember(result)
        reason, details = outcome.trigger
        if run_id:
            details = {**details, "check_run_id": run_id}
        event = self._fire(reason, details, learned=True)
        if run_id and self.check_logger is not None and (event.fired or result.triggered):
            tags = {"mlflow_monitor.triggered": str(event.fired).lower()}
            if event.retrain_run_id:
                tags["mlflow_monitor.retrain_run_id"] = event.retrain_run_id
            self.check_logger.set_run_tags(run_id, tags)
        return self._remember(replace(result, triggered=event.fired))

    def _remember(self, result: CheckResult) -> CheckResult:
        previous = self._last.get(result.kind)
        # A skipped check does not hide the last real verdict.
        if result.ran or previous is None or not previous.ran:
            self._last[result.kind] = result
        if result.ran:
            logger.info("%s check: %s", result.kind, result.status)
            self._keep("check result", self.store.record_check, result.to_dict())
        else:
            logger.debug("%s check skipped: %s", result.kind, result.reason)
        return result

    def _keep(self, what: str, record: Any, value: dict[str, Any]) -> None:
        """Keep a check result or trigger in the store; a store error never fails the check."""
        try:
            record(value)
        except MonitorError as exc:
            logger.warning("could not keep the %s in the store: %s", what, exc)

    # -- triggers ------------------------------------------------------------------------

    def _learn_stored_triggers(self) -> None:
        """Let the cooldown count the triggers every process sharing the store fired, so a
        new leader does not fire again right after the old one did."""
        if self.triggers.cooldown:
            self.triggers.note_stored(stored_triggers(self.store)[1])

    def _fire(
        self, reason: str, details: Mapping[str, Any], force: bool = False, learned: bool = False
    ) -> TriggerEvent:
        if not force and not learned:
            self._learn_stored_triggers()
        event = self.triggers.fire(reason, details, force=force)
        if event.fired:
            self._keep("retraining trigger", self.store.record_trigger, event.to_dict())
            if self.prometheus_metrics is not None:
                self.prometheus_metrics.count_trigger()
        return event

    def _retraining_run_ended(self, event: TriggerEvent) -> None:
        self._keep("retraining run's end", self.store.update_trigger, event.to_dict())

    def trigger_retraining(
        self, reason: str = MANUAL, details: Mapping[str, Any] | None = None
    ) -> TriggerEvent:
        """Fire a retraining trigger now, ignoring the cooldown; callbacks run.

        Args:
            reason: why (free text; ``"manual"`` by default).
            details: JSON-serialisable context passed to the callbacks.

        Returns:
            The recorded event (with any callback errors).
        """
        return self._fire(reason, details or {}, force=True)

    # -- scheduling ----------------------------------------------------------------------

    def start_monitoring(self) -> None:
        """Start periodic checks in a background thread and mark the monitor healthy.

        Performance runs every ``performance_check_minutes``, drift every
        ``drift_check_minutes``; disabled components get no job.

        Of the processes whose monitors share a store (serving workers and hosts), only the
        leader of the stream runs the scheduled checks; the others skip them, and one of them
        takes over when the leader stops, or within about a minute when it dies (a heartbeat
        thread renews the leadership every 20 s; see :mod:`mlflow_monitor.store.sql.leadership`).
        Calls to :meth:`check_drift` and :meth:`check_performance` run wherever they are
        made.
        """
        if self._schedule is not None and self._schedule.running:
            return
        cfg = self.config
        jobs = []
        if cfg.enable_performance_tracking:
            minutes = cfg.performance_check_minutes
            jobs.append(PeriodicJob("performance", minutes * 60, self.check_performance))
        if cfg.enable_drift_detection:
            jobs.append(PeriodicJob("drift", cfg.drift_check_minutes * 60, self.check_drift))
        if cfg.store_retention_days is not None and hasattr(self.store, "prune"):
            keep = cfg.store_retention_days * 86400
            jobs.append(PeriodicJob("retention", min(_RETENTION_EVERY, keep / 4), self.prune))
        self._schedule = LeaderSchedule(self.store, jobs) if jobs else None
        if self._schedule is not None:
            self._schedule.start()
        self._started_at = self.clock()
        if self.prometheus_metrics is not None:
            self.prometheus_metrics.set_monitoring(True)
        logger.info("monitoring started (%d periodic jobs)", len(jobs))

    def prune(self, older_than_days: float | None = None) -> int:
        """Delete the stream's predictions (and their labels) older than a number of days
        from a database store; the leader does it periodically with ``store_retention_days``.

        Args:
            older_than_days: the age limit; ``store_retention_days`` when None.

        Returns:
            How many predictions were deleted (0 without a limit or with the in-memory
            store, which keeps a bounded number of predictions anyway).

        Raises:
            StoreError: the database is unavailable.
        """
        days = self.config.store_retention_days if older_than_days is None else older_than_days
        prune = getattr(self.store, "prune", None)
        if days is None or prune is None:
            return 0
        if not (isinstance(days, int | float) and math.isfinite(days) and days >= 0):
            raise ConfigError(f"older_than_days must be a finite number >= 0, got {days!r}")
        deleted = int(prune(self.clock().timestamp() - days * 86400))
        if deleted:
            logger.info("pruned %d predictions older than %g days", deleted, days)
        return deleted

    def stop_monitoring(self) -> None:
        """Stop the periodic checks (waits for a check in progress) and hand over the
        leadership, if this process held it."""
        if self._schedule is not None:
            self._schedule.stop()
            self._schedule = None
        self._started_at = None
        if self.prometheus_metrics is not None:
            self.prometheus_metrics.set_monitoring(False)
        logger.info("monitoring stopped")

    @property
    def is_leader(self) -> bool:
        """True while monitoring and this process leads the stream's scheduled checks."""
        schedule = self._schedule
        return schedule is not None and schedule.is_leader

    @property
    def is_monitoring(self) -> bool:
        """True while periodic checks run."""
        return self._started_at is not None

    @property
    def is_healthy(self) -> bool:
        """Monitoring runs and the last checks raised no error."""
        return self.is_monitoring and not self._errors

    def __enter__(self) -> ModelMonitor:
        self.start_monitoring()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_monitoring()

    def close(self) -> None:
        """Stop periodic checks and close the store the monitor opened itself.

        A database store writes what it still has queued first. A store passed in as
        ``store=`` is left open for its owner.
        """
        if self.is_monitoring:
            self.stop_monitoring()
        if self._owns_store:
            self.store.close()

    # -- status --------------------------------------------------------------------------

    def get_monitoring_status(self) -> dict[str, Any]:
        """Everything about the monitor in one JSON-serialisable dict.

        Keys: ``healthy``, ``monitoring_active``, ``leader`` (whether this process runs the
        stream's scheduled checks, see :meth:`start_monitoring`), ``started_at``, ``counts``
        (this process's recordings, plus what the store holds), ``drift``, ``performance``,
        ``drift_detected``, ``performance_degraded``, ``triggers``, ``errors``, ``store``
        (its stream and :class:`~mlflow_monitor.store.StoreCounts`) and ``config``.
        """
        return monitoring_status(self)

    def recorded_counts(self) -> dict[str, int]:
        """Predictions and labels this process recorded (``predictions``, ``feedback``)."""
        return self._recorder.counts()

    @property
    def started_at(self) -> datetime | None:
        """When :meth:`start_monitoring` was called, None while not monitoring."""
        return self._started_at

    @property
    def errors(self) -> dict[str, str]:
        """The error of the last scheduled check of each kind that failed."""
        return dict(self._errors)

    @property
    def last_results(self) -> Mapping[str, CheckResult]:
        """This process's latest result of each check kind."""
        return dict(self._last)

    @property
    def reference_size(self) -> int:
        """Rows of the drift reference (0 before :meth:`setup_drift_detection`)."""
        detector = self.drift_detector
        reference = detector.reference_ if detector is not None else None
        return 0 if reference is None else int(reference.shape[0])

    @property
    def baseline(self) -> dict[str, float]:
        """The performance baseline (empty before :meth:`setup_performance_baseline`)."""
        tracker = self.performance_tracker
        return dict(tracker.baseline_) if tracker is not None else {}

    def current_performance(self) -> PerformanceSnapshot | None:
        """Metrics over the latest labelled window now, None when performance is off."""
        check = self._performance_check
        return check.snapshot() if check is not None else None

    # -- persistence ---------------------------------------------------------------------

    def snapshot(self) -> MonitorSnapshot:
        """The monitoring state: reference data and bandwidth, baseline, counters, last check
        results, the drift alarm's evidence, trigger history and, with the in-memory store,
        its contents."""
        detector = self.drift_detector
        params, arrays = detector.get_state() if detector is not None else (None, {})
        store = self.store if isinstance(self.store, InMemoryStore) else None
        tracker = self.performance_tracker
        metrics = self.prometheus_metrics
        suffixes = ("predictions", "feedback", "retraining_triggered")
        return MonitorSnapshot(
            config=self.config.to_dict(),
            counts=self.recorded_counts(),
            counters={s: metrics.value(s) for s in suffixes} if metrics is not None else {},
            drift=params,
            drift_arrays=arrays,
            baseline=None if tracker is None else dict(tracker.baseline_),
            labelled=store.labelled_window(tracker.window_size)
            if store is not None and tracker is not None
            else [],
            records=store.records() if store is not None else [],
            window=store.peek_features() if store is not None else [],
            window_is_raw=detector is not None and detector.preprocess_fn is not None,
            triggers=self.triggers.get_state(),
            last_checks=dict(self._last),
            alarm=self._drift_check.alarm.get_state(),
        )

    def restore(self, snapshot: MonitorSnapshot) -> None:
        """Apply a :meth:`snapshot` (usually read from a state file) to this monitor.

        Saved store contents go into an :class:`~mlflow_monitor.store.InMemoryStore` only;
        any other store keeps its own. The detector keeps this monitor's settings (its
        ``preprocess_fn`` among them) and takes the saved reference.

        Raises:
            StateError: the snapshot's detector needs a ``preprocess_fn`` this monitor lacks.
        """
        detector = self.drift_detector
        if snapshot.drift is not None and self.config.enable_drift_detection:
            if detector is not None:
                encoder = detector.encoder  # column kinds are settings, as the preprocess_fn
                detector = DriftDetector(**detector.get_params())
                detector.encoder = encoder
            else:
                detector = DriftDetector.from_state(snapshot.drift, self.config.random_seed)
            detector.set_state(snapshot.drift, snapshot.drift_arrays)
        self.drift_detector = detector
        tracker = self.performance_tracker
        if tracker is not None and snapshot.baseline is not None:
            tracker.clear()
            tracker.baseline_ = dict(snapshot.baseline)
            tracker.update_many(snapshot.labelled)
            if self.prometheus_metrics is not None:
                self.prometheus_metrics.set_baseline(tracker.baseline_)
        if isinstance(self.store, InMemoryStore):
            labelled = snapshot.labelled if snapshot.baseline is not None else None
            self.store.load(snapshot.records, snapshot.window, labelled)
        elif snapshot.records or snapshot.window:
            logger.info(
                "saved predictions and drift rows are not loaded into %r, which keeps its own",
                self.store,
            )
        self._recorder.restore_counts(snapshot.counts)
        if self.prometheus_metrics is not None:
            self.prometheus_metrics.restore_counters(snapshot.counters)
        self.triggers.set_state(snapshot.triggers)
        self._drift_check.alarm.set_state(snapshot.alarm)
        self._last = dict(snapshot.last_checks)

    def save_state(self, path: str | os.PathLike[str]) -> None:
        """Write the whole monitoring state to one file, atomically (no pickle).

        Saved: reference data and bandwidth, baseline, counters, last check results, trigger
        history and, with the in-memory store, its contents: the labelled window,
        predictions awaiting feedback and the pending drift window. A database store
        (``store_uri``) already keeps its contents, so they are not saved, and loading a
        state file leaves that store as it is.
        """
        write_snapshot(path, self.snapshot())

    def load_state(self, path: str | os.PathLike[str]) -> None:
        """Restore what :meth:`save_state` wrote into this monitor.

        Everything is read and checked before anything changes, so a bad file leaves the
        monitor as it was.

        Raises:
            StateError: the file is missing, corrupt, tampered with or not a state file.
        """
        self.restore(read_snapshot(path))


def create_monitor(
    config: Mapping[str, Any] | None = None,
    *,
    registry: CollectorRegistry | None = None,
    clock: Clock = utcnow,
) -> ModelMonitor:
    """Create a :class:`ModelMonitor` from a dict of options.

    Args:
        config: options (see the README's option table); None for all defaults.
        registry: Prometheus registry for the metrics; a fresh one by default.
        clock: current-time function (for tests).

    Raises:
        ConfigError: an option is unknown or has a bad value.
    """
    return ModelMonitor(config, registry=registry, clock=clock)


def load_monitor(
    path: str | os.PathLike[str], *, trust_connections: bool = False, **overrides: Any
) -> ModelMonitor:
    """Build a monitor with the config saved in ``path`` and restore its state.

    A state file restores monitoring data and settings only: the options that connect the
    monitor or launch something (:data:`~mlflow_monitor.config.CONNECTION_OPTIONS`:
    ``store_uri``, ``tracking_uri``, ``retrain_project_uri`` and the other retraining and
    tracking options) keep their defaults unless given in ``overrides``, so a crafted file can
    neither run a project nor create a file or reach a server of its choosing.

    Args:
        path: a file written by :meth:`ModelMonitor.save_state`.
        trust_connections: also take the saved connection options (only for a file you
            wrote yourself; the file's digest detects damage, not a forger).
        **overrides: config options to set (e.g. ``store_uri=...``,
            ``retraining_callback=fn``, which is never saved).

    Returns:
        The restored monitor (not started).

    Raises:
        StateError: the file is missing, corrupt, too large or not a state file.
        ConfigError: an override, or a saved option, is invalid.
    """
    from mlflow_monitor.config import CONNECTION_OPTIONS

    snapshot = read_snapshot(path)
    saved = dict(snapshot.config)
    saved.pop("retraining_callback", None)
    if not trust_connections:
        ignored = sorted(k for k in CONNECTION_OPTIONS & set(saved) if saved[k] is not None)
        if ignored:
            logger.info("not taken from the state file (pass them to connect): %s", ignored)
        saved = {k: v for k, v in saved.items() if k not in CONNECTION_OPTIONS}
    monitor = ModelMonitor({**saved, **overrides})
    monitor.restore(snapshot)
    return monitor
