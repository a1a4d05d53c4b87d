"""ModelMonitor: records predictions and labels, runs checks, exports metrics, fires triggers.

The recording calls (:meth:`ModelMonitor.record_predictions`,
:meth:`ModelMonitor.record_prediction`) only validate and hand a batch to the inference store,
which keeps it in memory or queues it for a background database writer; all statistics run in
:meth:`~ModelMonitor.check_drift` and :meth:`~ModelMonitor.check_performance`, on demand or on
the background scheduler started by :meth:`~ModelMonitor.start_monitoring`, on windows read
from the store, so with a shared store (``store_uri``) any process can run the checks.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from mlflow_monitor.config import MonitorConfig
from mlflow_monitor.drift import DriftDetector
from mlflow_monitor.exceptions import DataValidationError, FeedbackError, MonitorError
from mlflow_monitor.features import as_feature_matrix, as_feature_row
from mlflow_monitor.ids import next_id
from mlflow_monitor.memory_store import InMemoryStore
from mlflow_monitor.metrics import MonitorMetrics
from mlflow_monitor.performance import Label, PerformanceTracker, as_label
from mlflow_monitor.recording import (
    label_column,
    prediction_id_column,
    prediction_id_value,
    probability_column,
    probability_value,
)
from mlflow_monitor.results import CheckResult, DriftResult, PerformanceSnapshot, utcnow
from mlflow_monitor.scheduler import LeaderSchedule, PeriodicJob
from mlflow_monitor.store import InferenceStore, PredictionBatch, as_list
from mlflow_monitor.triggers import (
    DATA_DRIFT,
    MANUAL,
    PERFORMANCE_DEGRADATION,
    Callback,
    Clock,
    TriggerEvent,
    TriggerPolicy,
)

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from mlflow_monitor.retrain import ProjectLauncher
    from mlflow_monitor.tracking import CheckRunLogger

__all__ = ["ModelMonitor", "create_monitor"]

logger = logging.getLogger(__name__)

# Most recent triggers get_monitoring_status lists.
_TRIGGERS_SHOWN = 100


class ModelMonitor:
    """Monitors one model: data drift, live performance, metrics and retraining triggers.

    Args:
        config: options as a dict (see :class:`~mlflow_monitor.config.MonitorConfig`).
        registry: Prometheus registry for the metrics; a new one per monitor by default.
        clock: returns the current UTC time; tests pass a fake one to move through cooldowns.
        check_logger: logs each check as an MLflow run; built from the config when
            ``log_checks`` is set.
        store: where predictions and labels are kept; by default a
            :class:`~mlflow_monitor.sql_store.SqlInferenceStore` when ``store_uri`` is set
            (closed by :meth:`close`), else an :class:`~mlflow_monitor.store.InMemoryStore`.

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
        self.store: InferenceStore = _default_store(cfg) if store is None else store
        self.drift_detector: DriftDetector | None = None
        self.performance_tracker: PerformanceTracker | None = None
        if cfg.enable_performance_tracking:
            self.performance_tracker = PerformanceTracker(
                window_size=cfg.performance_window_size,
                threshold=cfg.performance_threshold,
                min_samples=cfg.performance_min_samples,
                positive_label=cfg.positive_label,
            )
        self.prometheus_metrics: MonitorMetrics | None = (
            MonitorMetrics(cfg.metrics_prefix, registry) if cfg.enable_prometheus else None
        )
        callbacks = [cfg.retraining_callback] if cfg.retraining_callback else []
        self.triggers = TriggerPolicy(
            cfg.retraining_cooldown_minutes, callbacks, clock, launcher=_launcher(cfg)
        )
        self.triggers.on_run_ended = self._retraining_run_ended
        self.check_logger = check_logger
        if check_logger is None and cfg.log_checks:
            from mlflow_monitor.tracking import CheckRunLogger

            self.check_logger = CheckRunLogger(
                cfg.model_name, cfg.model_version, cfg.tracking_uri, cfg.experiment_name
            )
        self._counts = {"predictions": 0, "feedback": 0}
        self._counts_lock = threading.Lock()
        self._dropped_exported = 0  # store drops already added to records_dropped_total
        self._check_lock = threading.Lock()
        self._tracker_lock = threading.Lock()
        self._last: dict[str, CheckResult] = {}
        self._errors: dict[str, str] = {}
        self._schedule: LeaderSchedule | None = None
        self._started_at: datetime | None = None

    # -- setup ---------------------------------------------------------------------------

    def setup_drift_detection(
        self, reference_data: Any, detector: DriftDetector | None = None
    ) -> DriftDetector | None:
        """Set the reference data (usually the training features) for drift checks.

        Args:
            reference_data: 2-D numeric array or DataFrame; only the most recent
                ``drift_update_ref['last']`` rows are kept.
            detector: a custom :class:`DriftDetector` (e.g. with a ``preprocess_fn``);
                by default one is built from the config.

        Returns:
            The fitted detector, or None when drift detection is disabled.
        """
        cfg = self.config
        if not cfg.enable_drift_detection:
            logger.warning("setup_drift_detection ignored: enable_drift_detection is False")
            return None
        if detector is None:
            detector = DriftDetector.from_config(cfg)
        detector.fit(reference_data)
        self.drift_detector = detector
        return detector

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

    def add_retraining_callback(self, callback: Callback) -> None:
        """Call ``callback(reason, details)`` on every fired retraining trigger."""
        self.triggers.add_callback(callback)

    # -- recording -----------------------------------------------------------------------

    def _raw_features(self) -> bool:
        detector = self.drift_detector
        return detector is not None and detector.preprocess_fn is not None

    def _row_features(self, features: Any) -> Any:
        """One prediction's drift row, as the one-row batch form the store takes."""
        if features is None or not self.config.enable_drift_detection:
            return None
        if self._raw_features():
            return [features]  # raw input, preprocessed in batches at check time
        detector = self.drift_detector
        return as_feature_row(features, detector.n_features if detector else None)[np.newaxis]

    def _batch_features(self, features: Any, n: int) -> Any:
        """The drift rows of ``n`` predictions: a float matrix, an object matrix of raw rows,
        or a list of raw inputs."""
        if features is None or not self.config.enable_drift_detection:
            return None
        rows: Any
        if not self._raw_features():
            detector = self.drift_detector
            rows = as_feature_matrix(features, detector.n_features if detector else None)
        elif hasattr(features, "columns") and hasattr(features, "to_dict"):
            rows = features.to_dict("records")  # a DataFrame of raw inputs
        elif isinstance(features, np.ndarray) and features.ndim == 2 and features.dtype == object:
            rows = features  # raw rows as value lists, kept whole (made into lists at check time)
        else:
            rows = list(features)
        if len(rows) != n:
            raise DataValidationError(
                f"features must have one row per prediction ({n}), got {len(rows)}"
            )
        return rows

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
            self.record_batch(predictions, probabilities, features, true_labels, prediction_ids)
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
        :class:`~mlflow_monitor.ids.GeneratedIds` (UUID4-shaped ids sharing a random
        per-batch prefix), whose strings are made only when read (``list(ids)``); numeric
        arrays are stored as arrays. At 10,000 rows this saves about 1 ms per call over
        :meth:`record_predictions`, which returns a list.

        Returns:
            The prediction ids, in order, as a sequence of strings.
        """
        labels = label_column(predictions, "prediction", None, keep_array=True)
        n = len(labels)
        batch = PredictionBatch(
            prediction_ids=prediction_id_column(prediction_ids, n),
            predictions=labels,
            probabilities=probability_column(probabilities, n),
            true_labels=None
            if true_labels is None
            else as_list(label_column(true_labels, "true_label", n, missing_ok=True)),
            features=self._batch_features(features, n),
        )
        return self._record(batch) if n else []

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
        truth = None if true_label is None else as_label(true_label, "true_label")
        pid = next_id() if prediction_id is None else prediction_id_value(prediction_id)
        label = as_label(prediction, "prediction")
        number = probability_value(probability)
        row = self._row_features(features)
        add_one = getattr(self.store, "add_one", None)
        if add_one is None:  # a store of the caller's that implements add only
            truths: list[Label | None] | None = None if truth is None else [truth]
            self._record(PredictionBatch([pid], [label], [number], truths, row))
            return pid
        add_one(pid, label, number, truth, row, time.time())
        self._count_recorded(1, truth is not None)
        return pid

    def _record(self, batch: PredictionBatch) -> Sequence[str]:
        self.store.add(batch)
        self._count_recorded(len(batch), batch.n_labels)
        return batch.prediction_ids

    def _count_recorded(self, n: int, labelled: int) -> None:
        """Count ``n`` recorded predictions, ``labelled`` of them with their label."""
        with self._counts_lock:
            self._counts["predictions"] += n
            self._counts["feedback"] += labelled
        if self.prometheus_metrics is not None:
            self.prometheus_metrics.count_predictions(n)
            if labelled:
                self.prometheus_metrics.count_feedback(labelled)
            self.export_store_counters()

    def export_store_counters(self) -> None:
        """Bring ``<prefix>_records_dropped_total`` up to the store's count of dropped records.

        Called after each recording; the serve app also calls it before each scrape, so drops
        by the store's background writer show while no traffic arrives.
        """
        dropped = int(getattr(self.store, "dropped", 0))
        if self.prometheus_metrics is None or dropped <= self._dropped_exported:
            return
        with self._counts_lock:
            new = dropped - self._dropped_exported
            if new <= 0:
                return
            self._dropped_exported = dropped
        self.prometheus_metrics.count_dropped(new)

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
        try:
            truth = as_label(true_label, "true_label")
            self.store.label(prediction_id_value(prediction_id), truth)
        except (FeedbackError, DataValidationError):
            if self.prometheus_metrics is not None:
                self.prometheus_metrics.count_feedback_rejected()
            raise
        with self._counts_lock:
            self._counts["feedback"] += 1
        if self.prometheus_metrics is not None:
            self.prometheus_metrics.count_feedback()

    # -- checks --------------------------------------------------------------------------

    def check_drift(self) -> CheckResult:
        """Test the feature rows recorded since the last drift check against the reference.

        Rows are consumed by a check that runs; with fewer than ``drift_min_samples`` rows
        the check is skipped and the rows wait for the next one.

        Returns:
            The check result; ``status`` is ``"drift"``, ``"ok"`` or ``"skipped"``.
        """
        cfg = self.config
        if not cfg.enable_drift_detection:
            return self._remember(CheckResult("drift", "skipped", reason="drift detection is off"))
        detector = self.drift_detector
        if detector is None or not detector.is_fitted:
            reason = "no reference data; call setup_drift_detection(reference) first"
            return self._remember(CheckResult("drift", "skipped", reason=reason))
        with self._check_lock:
            rows = self.store.take_features(cfg.drift_min_samples, cfg.drift_window_size)
            if rows is None:
                have = self._pending_drift_rows()
                reason = f"need {cfg.drift_min_samples} new feature rows, have {have}"
                return self._remember(CheckResult("drift", "skipped", reason=reason))
            batch: Any = rows if detector.preprocess_fn is not None else np.vstack(rows)
            reference = detector.reference_  # replaced, not changed, by a reference update
            try:
                result = detector.detect(batch)
            except Exception as exc:
                self._errors["drift"] = f"{type(exc).__name__}: {exc}"
                raise
            samples = {
                "reference": reference,
                "test": detector.last_batch_,
                "feature_names": list(detector.feature_names_),
            }
        self._errors.pop("drift", None)
        if self.prometheus_metrics is not None:
            self.prometheus_metrics.observe_drift(result)
        status = "drift" if result.drift_detected else "ok"
        trigger = (DATA_DRIFT, _drift_details(result)) if result.drift_detected else None
        return self._conclude(CheckResult("drift", status, drift=result), trigger, samples)

    def _pending_drift_rows(self) -> int:
        return min(self.store.pending_features(), self.config.drift_window_size)

    def _performance_snapshot(self, tracker: PerformanceTracker) -> PerformanceSnapshot:
        """Metrics over the latest labelled window in the store (labels from any process)."""
        pairs = self.store.labelled_window(tracker.window_size)
        with self._tracker_lock:
            tracker.clear()
            tracker.update_many(pairs)
            return tracker.compute()

    def check_performance(self) -> CheckResult:
        """Compute rolling metrics over the labelled window and compare with the baseline.

        The window is the latest ``performance_window_size`` labelled predictions in the
        store, so feedback received by any process sharing the store counts.

        Returns:
            The check result; ``status`` is ``"degraded"``, ``"ok"`` or ``"skipped"`` (no
            baseline yet, or fewer than ``performance_min_samples`` labels).
        """
        tracker = self.performance_tracker
        if tracker is None:
            reason = "performance tracking is off"
            return self._remember(CheckResult("performance", "skipped", reason=reason))
        snapshot = self._performance_snapshot(tracker)
        if self.prometheus_metrics is not None and snapshot.n_samples:
            self.prometheus_metrics.observe_performance(snapshot)
        if not tracker.baseline_:
            reason = "no baseline; call setup_performance_baseline(metrics) first"
            return self._remember(
                CheckResult("performance", "skipped", performance=snapshot, reason=reason)
            )
        if not snapshot.enough_samples:
            reason = f"need {tracker.min_samples} labelled predictions, have {snapshot.n_samples}"
            return self._remember(
                CheckResult("performance", "skipped", performance=snapshot, reason=reason)
            )
        status = "degraded" if snapshot.degraded else "ok"
        trigger = (
            (PERFORMANCE_DEGRADATION, _performance_details(snapshot)) if snapshot.degraded else None
        )
        return self._conclude(CheckResult("performance", status, performance=snapshot), trigger)

    def _conclude(
        self,
        result: CheckResult,
        trigger: tuple[str, dict[str, Any]] | None,
        samples: Mapping[str, Any] | None = None,
    ) -> CheckResult:
        """Log a check that ran, then fire its trigger naming the check run."""
        run_id = None
        if self.check_logger is not None:
            run_id = self.check_logger.log_check(result, **(samples or {}))
        if trigger is None:
            return self._remember(result)
        reason, details = trigger
        if run_id:
            details = {**details, "check_run_id": run_id}
        event = self._fire(reason, details)
        if run_id and event.fired and self.check_logger is not None:
            tags = {"mlflow_monitor.triggered": "true"}
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

    def _fire(self, reason: str, details: Mapping[str, Any], force: bool = False) -> TriggerEvent:
        if not force and self.triggers.cooldown:
            self._learn_shared_triggers()
        event = self.triggers.fire(reason, details, force=force)
        if event.fired:
            self._keep("retraining trigger", self.store.record_trigger, event.to_dict())
            if self.prometheus_metrics is not None:
                self.prometheus_metrics.count_trigger()
        return event

    def _learn_shared_triggers(self) -> None:
        """Let the cooldown count the triggers fired by every process sharing the store, so a
        new leader does not fire again right after the old one did."""
        for stored in self._stored_triggers()[1]:
            try:
                if not stored.get("fired", True):
                    continue
                when = datetime.fromisoformat(str(stored["timestamp"]))
            except (KeyError, ValueError):
                continue
            if when.tzinfo is None:  # written without a zone: the monitor's times are UTC
                when = when.replace(tzinfo=UTC)
            self.triggers.note_fired(str(stored["reason"]), when)

    def _stored_triggers(self) -> tuple[int, list[dict[str, Any]]]:
        """The store's count of kept triggers and the latest of them; none when it cannot
        be read (a store error never fails a check or a status report)."""
        try:
            return self.store.trigger_history(_TRIGGERS_SHOWN)
        except MonitorError as exc:
            logger.warning("cannot read the trigger history from the store: %s", exc)
            return 0, []

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
        thread renews the leadership every 20 s; see :mod:`mlflow_monitor.leadership`).
        Calls to :meth:`check_drift` and :meth:`check_performance` run wherever they are
        made.
        """
        if self._schedule is not None and self._schedule.running:
            return
        cfg = self.config
        jobs = []
        if cfg.enable_performance_tracking:
            jobs.append(
                PeriodicJob(
                    "performance", cfg.performance_check_minutes * 60, self._scheduled_performance
                )
            )
        if cfg.enable_drift_detection:
            jobs.append(PeriodicJob("drift", cfg.drift_check_minutes * 60, self._scheduled_drift))
        self._schedule = LeaderSchedule(self.store, jobs) if jobs else None
        if self._schedule is not None:
            self._schedule.start()
        self._started_at = self.clock()
        if self.prometheus_metrics is not None:
            self.prometheus_metrics.set_monitoring(True)
        logger.info("monitoring started (%d periodic jobs)", len(jobs))

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

    def _scheduled_drift(self) -> None:
        try:
            self.check_drift()
        except Exception:
            logger.exception("scheduled drift check failed")

    def _scheduled_performance(self) -> None:
        try:
            self.check_performance()
            self._errors.pop("performance", None)
        except Exception as exc:
            self._errors["performance"] = f"{type(exc).__name__}: {exc}"
            logger.exception("scheduled performance check failed")

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
        with self._counts_lock:
            counts = dict(self._counts)
        held = self.store.counts()
        counts["pending_drift_rows"] = self._pending_drift_rows()
        counts["predictions_held"] = held.predictions
        last_drift, last_perf = self._last_check("drift"), self._last_check("performance")
        tracker = self.performance_tracker
        detector = self.drift_detector
        current = self._performance_snapshot(tracker) if tracker is not None else None
        return {
            "healthy": self.is_healthy,
            "monitoring_active": self.is_monitoring,
            "leader": self.is_leader,
            "started_at": self._started_at.isoformat() if self._started_at else None,
            "timestamp": self.clock().isoformat(),
            "counts": counts,
            "drift": {
                "enabled": self.config.enable_drift_detection,
                "reference_size": (
                    int(detector.reference_.shape[0])
                    if detector is not None and detector.reference_ is not None
                    else 0
                ),
                "last_check": last_drift,
            },
            "performance": {
                "enabled": self.config.enable_performance_tracking,
                "baseline": dict(tracker.baseline_) if tracker is not None else {},
                "current": current.to_dict() if current is not None else None,
                "last_check": last_perf,
            },
            "drift_detected": bool(
                last_drift and last_drift.get("drift") and last_drift["drift"]["drift_detected"]
            ),
            "performance_degraded": bool(
                last_perf and last_perf.get("performance") and last_perf["status"] == "degraded"
            ),
            "triggers": self._trigger_status(),
            "errors": dict(self._errors),
            "store": {
                "model_name": self.store.model_name,
                "model_version": self.store.model_version,
                **held.to_dict(),
            },
            "config": self.config.to_dict(),
        }

    def _last_check(self, kind: str) -> dict[str, Any] | None:
        """The latest check of ``kind`` that ran, by any process sharing the store; this
        process's own (possibly skipped) check when the store has none."""
        try:
            stored = self.store.last_checks().get(kind)
        except MonitorError as exc:
            logger.warning("cannot read the last checks from the store: %s", exc)
            stored = None
        if stored is not None:
            return stored
        local = self._last.get(kind)
        return local.to_dict() if local is not None else None

    def _trigger_status(self) -> dict[str, Any]:
        """Fired triggers of every process sharing the store (this process's own when the
        store knows fewer, as after :meth:`load_state` into a fresh in-memory store)."""
        local = self.triggers.history
        total, history = self._stored_triggers()
        if total < len(local):
            total, history = len(local), [e.to_dict() for e in list(local)[-_TRIGGERS_SHOWN:]]
        return {
            "total": total,
            "suppressed_by_cooldown": self.triggers.suppressed,
            "history": history,
        }

    # -- persistence ---------------------------------------------------------------------

    def save_state(self, path: str | os.PathLike[str]) -> None:
        """Write the whole monitoring state to one file, atomically (no pickle).

        Saved: reference data and bandwidth, baseline, counters, last check results, trigger
        history and, with the in-memory store, its contents: the labelled window,
        predictions awaiting feedback and the pending drift window. A database store
        (``store_uri``) already keeps its contents, so they are not saved, and loading a
        state file leaves that store as it is.
        """
        from mlflow_monitor.state import save_monitor_state

        save_monitor_state(self, path)

    def load_state(self, path: str | os.PathLike[str]) -> None:
        """Restore what :meth:`save_state` wrote into this monitor.

        Raises:
            StateError: the file is missing, corrupt, tampered with or not a state file.
        """
        from mlflow_monitor.state import load_monitor_state

        load_monitor_state(self, path)


def _launcher(cfg: MonitorConfig) -> ProjectLauncher | None:
    if not cfg.retrain_project_uri:
        return None
    from mlflow_monitor.retrain import ProjectLauncher

    return ProjectLauncher(
        cfg.retrain_project_uri,
        cfg.model_name,
        entry_point=cfg.retrain_entry_point,
        parameters=cfg.retrain_parameters,
        env_manager=cfg.retrain_env_manager,
    )


def _default_store(cfg: MonitorConfig) -> InferenceStore:
    if cfg.store_uri is None:
        return InMemoryStore(
            cfg.max_pending_feedback,
            cfg.drift_window_size,
            labelled_size=max(cfg.performance_window_size, cfg.max_pending_feedback),
            model_name=cfg.model_name,
            model_version=cfg.model_version,
        )
    from mlflow_monitor.sql_store import SqlInferenceStore

    return SqlInferenceStore(
        cfg.store_uri,
        cfg.model_name,
        cfg.model_version,
        batch_size=cfg.store_batch_size,
        flush_seconds=cfg.store_flush_seconds,
        queue_size=cfg.store_queue_size,
    )


def _drift_details(result: DriftResult) -> dict[str, Any]:
    return {
        "p_value": result.p_value,
        "distance": result.distance,
        "p_val": result.p_val,
        "n_test": result.n_test,
        "drifted_features": result.drifted_features,
    }


def _performance_details(snapshot: PerformanceSnapshot) -> dict[str, Any]:
    return {
        "metrics": snapshot.metrics,
        "baseline": snapshot.baseline,
        "degraded_metrics": snapshot.degraded_metrics,
        "n_samples": snapshot.n_samples,
        "threshold": snapshot.threshold,
    }


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
