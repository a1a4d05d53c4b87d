"""Inference stores: where recorded predictions, their labels and drift rows are kept.

:class:`InferenceStore` is the interface every store implements; each store instance is scoped
to one stream (``model_name``, ``model_version``), so several models can share one database.
:class:`InMemoryStore` keeps a bounded log inside one process: the latest ``capacity``
predictions (older ones can no longer receive feedback), their labels in arrival order, and the
feature rows recorded since the last drift check (at most ``window_size``, the most recent).
:class:`~mlflow_monitor.sql_store.SqlInferenceStore` keeps everything in a database shared by
the serving processes and the ``check`` command.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from mlflow_monitor.exceptions import FeedbackError, MonitorError, UnknownPredictionError
from mlflow_monitor.performance import Label

if TYPE_CHECKING:
    from mlflow_monitor.leadership import Leadership

__all__ = [
    "InMemoryStore",
    "InferenceStore",
    "PredictionBatch",
    "PredictionRecord",
    "StoreCounts",
    "StoreError",
]


# Fired triggers an in-memory store keeps for status reports.
TRIGGERS_KEPT = 1000


class StoreError(MonitorError):
    """The inference store cannot be used: unreachable, or its schema is of a newer version."""


@dataclass(slots=True)
class PredictionRecord:
    """One recorded prediction and, once known, its true label."""

    prediction_id: str
    timestamp: float
    prediction: Label
    probability: float | None
    true_label: Label | None = None

    def to_list(self) -> list[Any]:
        """Compact JSON form used in state files."""
        return [
            self.prediction_id,
            self.timestamp,
            self.prediction,
            self.probability,
            self.true_label,
        ]

    @classmethod
    def from_list(cls, row: list[Any]) -> PredictionRecord:
        """Inverse of :meth:`to_list`."""
        pid, ts, prediction, probability, label = row
        return cls(str(pid), float(ts), prediction, probability, label)


@dataclass(frozen=True, slots=True)
class PredictionBatch:
    """Validated predictions to store, column by column, one entry per prediction.

    Attributes:
        prediction_ids: unique ids.
        predictions: predicted class labels.
        probabilities: probability of the positive class, or None, per prediction.
        true_labels: true class (or None) per prediction, or None when no label is known.
        features: the drift rows: a 2-D float64 matrix with one row per prediction, a list of
            raw inputs (for detectors with a ``preprocess_fn``), or None.
        timestamp: when the batch was recorded (seconds since the epoch).
    """

    prediction_ids: list[str]
    predictions: list[Label]
    probabilities: list[float | None]
    true_labels: list[Label | None] | None = None
    features: npt.NDArray[np.float64] | list[Any] | None = None
    timestamp: float = field(default_factory=time.time)

    def __len__(self) -> int:
        return len(self.prediction_ids)

    def __getitem__(self, rows: slice) -> PredictionBatch:
        return PredictionBatch(
            self.prediction_ids[rows],
            self.predictions[rows],
            self.probabilities[rows],
            None if self.true_labels is None else self.true_labels[rows],
            None if self.features is None else self.features[rows],
            self.timestamp,
        )

    @property
    def n_labels(self) -> int:
        """How many predictions of the batch come with their true label."""
        if self.true_labels is None:
            return 0
        return len(self.true_labels) - self.true_labels.count(None)

    def records(self) -> Iterator[PredictionRecord]:
        """The batch as records (without features)."""
        labels = self.true_labels or [None] * len(self)
        ts = self.timestamp
        for pid, pred, prob, label in zip(
            self.prediction_ids, self.predictions, self.probabilities, labels, strict=True
        ):
            yield PredictionRecord(pid, ts, pred, prob, label)


@dataclass(frozen=True)
class StoreCounts:
    """What a store holds for its stream, and what it could not store.

    Attributes:
        predictions: predictions held.
        labels: predictions held with their true label.
        queued: predictions accepted but not yet written (asynchronous stores).
        dropped: predictions lost because the write queue was full or the database failed.
        rejected: predictions refused because their id was already recorded.
    """

    predictions: int
    labels: int
    queued: int = 0
    dropped: int = 0
    rejected: int = 0

    def to_dict(self) -> dict[str, int]:
        """Return the counts as a JSON-serialisable dict."""
        return {
            "predictions": self.predictions,
            "labels": self.labels,
            "queued": self.queued,
            "dropped": self.dropped,
            "rejected": self.rejected,
        }


class InferenceStore(Protocol):
    """Predictions, their delayed labels and the pending drift rows of one stream.

    Attributes:
        model_name: name of the monitored model (the stream's first key).
        model_version: its version (the stream's second key).
    """

    model_name: str
    model_version: str

    def add(self, batch: PredictionBatch) -> None:
        """Record a batch of predictions.

        A synchronous store raises :class:`FeedbackError` for an id it already holds and
        stores nothing then. An asynchronous store queues the batch and returns at once; it
        never raises into the predict path, and counts what it could not store instead
        (see :meth:`counts`).
        """

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every batch added so far is written; True unless ``timeout`` ran out."""
        ...

    def close(self) -> None:
        """Write what is queued and release the store's resources."""

    def label(self, prediction_id: str, true_label: Label) -> PredictionRecord:
        """Attach the true label to a recorded prediction and return the labelled record.

        Raises:
            UnknownPredictionError: no prediction with that id is held.
            FeedbackError: the prediction already has a label (labels are not overwritten).
        """
        ...

    def labelled_window(self, n: int) -> list[tuple[Label, Label]]:
        """The ``n`` most recently labelled predictions as ``(prediction, true_label)`` pairs,
        oldest first."""
        ...

    def take_features(self, min_rows: int, max_rows: int) -> list[Any] | None:
        """Consume the drift rows recorded since the last call, oldest first.

        Returns:
            The most recent ``max_rows`` rows (older pending rows are consumed too, unused),
            or None, consuming nothing, while fewer than ``min_rows`` wait.
        """
        ...

    def pending_features(self) -> int:
        """How many drift rows wait for :meth:`take_features`."""
        ...

    def counts(self) -> StoreCounts:
        """What the store holds for its stream."""
        ...

    def record_check(self, result: Mapping[str, Any]) -> None:
        """Keep a check that ran (``CheckResult.to_dict()``), for every process's status."""
        ...

    def last_checks(self) -> dict[str, dict[str, Any]]:
        """The most recent kept check of each kind (``"drift"``, ``"performance"``)."""
        ...

    def record_trigger(self, event: Mapping[str, Any]) -> None:
        """Keep a fired retraining trigger (``TriggerEvent.to_dict()``)."""
        ...

    def trigger_history(self, limit: int = 100) -> tuple[int, list[dict[str, Any]]]:
        """How many triggers were kept in all, and the latest ``limit`` of them, oldest first."""
        ...

    def update_trigger(self, event: Mapping[str, Any]) -> None:
        """Replace the kept trigger that launched ``event["retrain_run_id"]`` (its run ended)."""
        ...

    def leadership(self, name: str, ttl: float = 60.0) -> Leadership:
        """Who among the processes sharing this store leads ``name`` (runs its checks).

        A store that no other process shares (the default here) makes every asker leader.

        Args:
            name: what is led, e.g. ``"checks:reviews/3"``.
            ttl: seconds a lease lasts without renewal, where leadership is a lease.

        Returns:
            A :class:`~mlflow_monitor.leadership.Leadership`, not yet acquired.
        """
        from mlflow_monitor.leadership import SoleLeadership

        return SoleLeadership(name)


class InMemoryStore(InferenceStore):
    """Bounded, thread-safe store of predictions, labels and the pending drift window.

    Args:
        capacity: predictions kept for feedback joining (``max_pending_feedback``).
        window_size: most recent feature rows kept for the next drift check.
        labelled_size: most recent labelled pairs kept for :meth:`labelled_window`;
            ``capacity`` by default.
        model_name: stream name, for status reports.
        model_version: stream version, for status reports.
    """

    def __init__(
        self,
        capacity: int = 100_000,
        window_size: int = 1000,
        labelled_size: int | None = None,
        model_name: str = "default",
        model_version: str = "0",
    ) -> None:
        self.capacity = capacity
        self.window_size = window_size
        self.model_name = model_name
        self.model_version = model_version
        self._records: OrderedDict[str, PredictionRecord] = OrderedDict()
        self._labelled: deque[tuple[Label, Label]] = deque(maxlen=labelled_size or capacity)
        self._window: deque[Any] = deque(maxlen=window_size)
        self._lock = threading.Lock()
        self._n_labels = 0
        self.evicted = 0
        self._last_checks: dict[str, dict[str, Any]] = {}
        self._triggers: deque[dict[str, Any]] = deque(maxlen=TRIGGERS_KEPT)
        self._n_triggers = 0

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, prediction_id: object) -> bool:
        return prediction_id in self._records

    def add(self, batch: PredictionBatch) -> None:
        """Store a batch of predictions (and their feature rows for the drift window).

        Raises:
            FeedbackError: an id is already in the store or repeated in the batch; nothing
                is stored then.
        """
        rows = _last_rows(batch.features, self.window_size)
        with self._lock:
            records = self._records
            ids = batch.prediction_ids
            repeated = len(set(ids)) != len(ids)
            for i, pid in enumerate(ids):
                if pid in records or (repeated and pid in ids[:i]):
                    raise FeedbackError(
                        f"prediction_id {pid!r} was already recorded; ids must be unique"
                    )
            for record in batch.records():
                records[record.prediction_id] = record
                if record.true_label is not None:
                    self._labelled.append((record.prediction, record.true_label))
            self._n_labels += batch.n_labels
            while len(records) > self.capacity:
                _, old = records.popitem(last=False)
                self._n_labels -= old.true_label is not None
                self.evicted += 1
            self._window.extend(rows)

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing to wait for: :meth:`add` stores synchronously."""
        return True

    def close(self) -> None:
        """Nothing to release."""

    def label(self, prediction_id: str, true_label: Label) -> PredictionRecord:
        """Attach the true label to a recorded prediction.

        Returns:
            The labelled record.

        Raises:
            UnknownPredictionError: no prediction with that id is held.
            FeedbackError: the prediction already has a label.
        """
        with self._lock:
            record = self._records.get(prediction_id)
            if record is None:
                raise UnknownPredictionError(
                    f"unknown prediction_id {prediction_id!r}: never recorded, or older than "
                    f"the last {self.capacity} predictions kept for feedback"
                )
            if record.true_label is not None:
                raise FeedbackError(
                    f"prediction_id {prediction_id!r} already has true_label "
                    f"{record.true_label!r}; labels are not overwritten"
                )
            record.true_label = true_label
            self._labelled.append((record.prediction, true_label))
            self._n_labels += 1
            return record

    def labelled_window(self, n: int) -> list[tuple[Label, Label]]:
        """The ``n`` most recently labelled ``(prediction, true_label)`` pairs, oldest first."""
        with self._lock:
            start = max(len(self._labelled) - n, 0)
            return [self._labelled[i] for i in range(start, len(self._labelled))]

    def take_features(self, min_rows: int, max_rows: int) -> list[Any] | None:
        """Take the drift window (its last ``max_rows`` rows), or None below ``min_rows``."""
        with self._lock:
            if len(self._window) < min_rows:
                return None
            rows = list(self._window)[-max_rows:]
            self._window.clear()
            return rows

    def pending_features(self) -> int:
        """Feature rows waiting for the next drift check."""
        return len(self._window)

    def counts(self) -> StoreCounts:
        """Predictions and labels held."""
        with self._lock:
            return StoreCounts(len(self._records), self._n_labels)

    def record_check(self, result: Mapping[str, Any]) -> None:
        """Keep the latest check of its kind."""
        with self._lock:
            self._last_checks[str(result["kind"])] = dict(result)

    def last_checks(self) -> dict[str, dict[str, Any]]:
        """The latest kept check of each kind."""
        with self._lock:
            return dict(self._last_checks)

    def record_trigger(self, event: Mapping[str, Any]) -> None:
        """Keep a fired trigger (the latest :data:`TRIGGERS_KEPT`)."""
        with self._lock:
            self._triggers.append(dict(event))
            self._n_triggers += 1

    def trigger_history(self, limit: int = 100) -> tuple[int, list[dict[str, Any]]]:
        """All triggers kept so far, and the latest ``limit``, oldest first."""
        with self._lock:
            return self._n_triggers, list(self._triggers)[-limit:] if limit > 0 else []

    def update_trigger(self, event: Mapping[str, Any]) -> None:
        """Replace the kept trigger that launched the same retraining run."""
        run_id = event.get("retrain_run_id")
        with self._lock:
            for index in range(len(self._triggers) - 1, -1, -1):
                if run_id and self._triggers[index].get("retrain_run_id") == run_id:
                    self._triggers[index] = dict(event)
                    return

    def get(self, prediction_id: str) -> PredictionRecord | None:
        """The record for an id, or None."""
        with self._lock:
            return self._records.get(prediction_id)

    def peek_features(self) -> list[Any]:
        """A copy of the drift window, oldest first."""
        with self._lock:
            return list(self._window)

    def records(self) -> list[PredictionRecord]:
        """A copy of the prediction log, oldest first."""
        with self._lock:
            return list(self._records.values())

    def load(
        self,
        records: list[PredictionRecord],
        features: list[Any],
        labelled: Sequence[tuple[Label, Label]] | None = None,
    ) -> None:
        """Replace the contents (used when restoring saved state).

        Args:
            records: the prediction log, oldest first.
            features: the pending drift rows, oldest first.
            labelled: labelled pairs in arrival order; by default those of ``records``.
        """
        if labelled is None:
            labelled = [(r.prediction, r.true_label) for r in records if r.true_label is not None]
        with self._lock:
            self._records = OrderedDict((r.prediction_id, r) for r in records[-self.capacity :])
            self._n_labels = sum(r.true_label is not None for r in self._records.values())
            self._labelled.clear()
            self._labelled.extend(labelled)
            self._window.clear()
            self._window.extend(features)


def _last_rows(features: npt.NDArray[np.float64] | list[Any] | None, n: int) -> list[Any]:
    """The last ``n`` drift rows of a batch, not holding on to the rest of its matrix."""
    if features is None:
        return []
    if isinstance(features, np.ndarray):
        # A row view would keep the whole batch matrix alive; copy the rows that are kept.
        return list(features[-n:].copy()) if len(features) > n else list(features)
    return features[-n:]
