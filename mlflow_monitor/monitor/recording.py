"""The recording path: what a monitor is told about each prediction, validated and stored.

:class:`Recorder` is the part of a :class:`~mlflow_monitor.monitor.ModelMonitor` that every
``predict`` goes through. It validates a batch column by column
(:mod:`mlflow_monitor.monitor.validation`), hands it to the inference store in one call and
counts it; no statistics, MLflow or database call runs here (a database store queues the
batch for its background writer). Drift rows are kept as they came: numeric feature rows as a
float matrix, or raw model input for a detector with a ``preprocess_fn`` (features are
extracted at check time).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mlflow_monitor._types import Label
from mlflow_monitor.drift.features import as_feature_matrix, as_feature_row
from mlflow_monitor.exceptions import DataValidationError, FeedbackError
from mlflow_monitor.monitor.targets import TargetRules
from mlflow_monitor.monitor.validation import prediction_id_column, prediction_id_value
from mlflow_monitor.store import InferenceStore, PredictionBatch, as_list
from mlflow_monitor.store.ids import next_id

if TYPE_CHECKING:
    from mlflow_monitor.drift import DriftDetector
    from mlflow_monitor.metrics import MonitorMetrics

__all__ = ["Recorder"]


class Recorder:
    """Validates recorded predictions and labels, stores them and counts them.

    Args:
        store: where predictions and labels go.
        metrics: the monitor's Prometheus metrics, or None.
        keep_features: whether drift rows are kept (``enable_drift_detection``).
        targets: what predictions, probabilities and labels may be (the task's rules);
            binary with positive class 1 by default.

    Attributes:
        detector: the monitor's drift detector, which says how wide a feature row is and
            whether rows are raw input (it has a ``preprocess_fn``); None before
            ``setup_drift_detection``.
    """

    def __init__(
        self,
        store: InferenceStore,
        metrics: MonitorMetrics | None,
        keep_features: bool,
        targets: TargetRules | None = None,
    ) -> None:
        self.store = store
        self.targets = targets if targets is not None else TargetRules()
        self.metrics = metrics
        self.keep_features = keep_features
        self.detector: DriftDetector | None = None
        self._counts = {"predictions": 0, "feedback": 0}
        self._lock = threading.Lock()
        self._dropped_exported = 0  # store drops already added to records_dropped_total
        self._rejected_exported = 0  # store rejections already in records_rejected_total

    # -- counts --------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Predictions and labels this process recorded (``predictions``, ``feedback``)."""
        with self._lock:
            return dict(self._counts)

    def restore_counts(self, counts: dict[str, int]) -> None:
        """Set the counts, as saved by an earlier monitor."""
        with self._lock:
            self._counts.update(counts)

    def _count_recorded(self, n: int, labelled: int) -> None:
        """Count ``n`` recorded predictions, ``labelled`` of them with their label."""
        with self._lock:
            self._counts["predictions"] += n
            self._counts["feedback"] += labelled
        if self.metrics is not None:
            self.metrics.count_predictions(n)
            if labelled:
                self.metrics.count_feedback(labelled)
            self.export_store_counters()

    def export_store_counters(self) -> None:
        """Bring ``<prefix>_records_dropped_total`` and ``<prefix>_records_rejected_total`` up
        to the store's counts of dropped and rejected records."""
        if self.metrics is None:
            return
        dropped = self.store.dropped
        rejected = getattr(self.store, "rejected", 0)
        if dropped <= self._dropped_exported and rejected <= self._rejected_exported:
            return
        with self._lock:
            new_dropped = max(dropped - self._dropped_exported, 0)
            new_rejected = max(rejected - self._rejected_exported, 0)
            self._dropped_exported = max(dropped, self._dropped_exported)
            self._rejected_exported = max(rejected, self._rejected_exported)
        if new_dropped:
            self.metrics.count_dropped(new_dropped)
        if new_rejected:
            self.metrics.count_rejected(new_rejected)

    # -- drift rows ----------------------------------------------------------------------

    def _raw_features(self) -> bool:
        detector = self.detector
        return detector is not None and detector.preprocess_fn is not None

    def _row_features(self, features: Any) -> Any:
        """One prediction's drift row, as the one-row batch form the store takes."""
        if features is None or not self.keep_features:
            return None
        if self._raw_features():
            return [features]  # raw input, preprocessed in batches at check time
        detector = self.detector
        width = detector.n_features if detector else None
        # A missing value is a finding of the data quality check, never a failed recording.
        return as_feature_row(features, width, allow_missing=True)[np.newaxis]

    def _batch_features(self, features: Any, n: int) -> Any:
        """The drift rows of ``n`` predictions: a float matrix, an object matrix of raw rows,
        or a list of raw inputs."""
        if features is None or not self.keep_features:
            return None
        rows: Any
        if not self._raw_features():
            detector = self.detector
            width = detector.n_features if detector else None
            rows = as_feature_matrix(features, width, allow_missing=True)
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

    # -- recording -----------------------------------------------------------------------

    def record_batch(
        self,
        predictions: Any,
        probabilities: Any = None,
        features: Any = None,
        true_labels: Any = None,
        prediction_ids: Any = None,
    ) -> Sequence[str]:
        """Validate and store a batch; its ids (see ``ModelMonitor.record_batch``)."""
        targets = self.targets
        labels = targets.label_column(predictions, "prediction", None)
        n = len(labels)
        batch = PredictionBatch(
            prediction_ids=prediction_id_column(prediction_ids, n),
            predictions=labels,
            probabilities=targets.probability_column(probabilities, labels, n),
            true_labels=None
            if true_labels is None
            else as_list(targets.label_column(true_labels, "true_label", n, missing_ok=True)),
            features=self._batch_features(features, n),
            class_probabilities=targets.class_probability_column(probabilities, n),
        )
        if not n:
            return []
        self.store.add(batch)
        self._count_recorded(n, batch.n_labels)
        return batch.prediction_ids

    def record_prediction(
        self,
        prediction: Any,
        probability: Any = None,
        features: Any = None,
        true_label: Any = None,
        prediction_id: Any = None,
    ) -> str:
        """Validate and store one prediction; its id (see ``ModelMonitor.record_prediction``)."""
        targets = self.targets
        truth = None if true_label is None else targets.label(true_label, "true_label")
        pid = next_id() if prediction_id is None else prediction_id_value(prediction_id)
        label = targets.label(prediction, "prediction")
        number = targets.probability(probability, label)
        vector = targets.class_probabilities(probability)
        row = self._row_features(features)
        if vector is None:
            self.store.add_one(pid, label, number, truth, row, time.time())
        else:
            self.store.add_one(
                pid, label, number, truth, row, time.time(), class_probabilities=vector
            )
        self._count_recorded(1, truth is not None)
        return pid

    def record_feedback(self, prediction_id: Any, true_label: Any) -> Label:
        """Attach a label to a stored prediction; rejected labels are counted and re-raised."""
        try:
            truth = self.targets.label(true_label, "true_label")
            self.store.label(prediction_id_value(prediction_id), truth)
        except (FeedbackError, DataValidationError):
            if self.metrics is not None:
                self.metrics.count_feedback_rejected()
            raise
        with self._lock:
            self._counts["feedback"] += 1
        if self.metrics is not None:
            self.metrics.count_feedback()
        return truth
