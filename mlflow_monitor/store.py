"""The in-process inference store: recent predictions, their labels, the drift window.

Everything is bounded: the prediction log keeps the latest ``capacity`` predictions (older
ones can no longer receive feedback), and the drift window keeps the feature rows recorded
since the last drift check, at most ``window_size`` of them (the most recent).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from mlflow_monitor.exceptions import FeedbackError, UnknownPredictionError

__all__ = ["InMemoryStore", "PredictionRecord"]


@dataclass(slots=True)
class PredictionRecord:
    """One recorded prediction and, once known, its true label."""

    prediction_id: str
    timestamp: float
    prediction: int | str
    probability: float | None
    true_label: int | str | None = None

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


class InMemoryStore:
    """Bounded, thread-safe store of predictions, labels and the pending drift window.

    Args:
        capacity: predictions kept for feedback joining (``max_pending_feedback``).
        window_size: most recent feature rows kept for the next drift check.
    """

    def __init__(self, capacity: int = 100_000, window_size: int = 1000) -> None:
        self.capacity = capacity
        self.window_size = window_size
        self._records: OrderedDict[str, PredictionRecord] = OrderedDict()
        self._window: deque[Any] = deque(maxlen=window_size)
        self._lock = threading.Lock()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, prediction_id: object) -> bool:
        return prediction_id in self._records

    def add(self, record: PredictionRecord, features: Any | None) -> None:
        """Store one prediction (and its feature row for the drift window).

        Raises:
            FeedbackError: the prediction id is already in the store.
        """
        with self._lock:
            if record.prediction_id in self._records:
                raise FeedbackError(
                    f"prediction_id {record.prediction_id!r} was already recorded; "
                    "ids must be unique"
                )
            self._records[record.prediction_id] = record
            if len(self._records) > self.capacity:
                self._records.popitem(last=False)
                self.evicted += 1
            if features is not None:
                self._window.append(features)

    def label(self, prediction_id: str, true_label: int | str) -> PredictionRecord:
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
            return record

    def get(self, prediction_id: str) -> PredictionRecord | None:
        """The record for an id, or None."""
        with self._lock:
            return self._records.get(prediction_id)

    def pending_features(self) -> int:
        """Feature rows waiting for the next drift check."""
        return len(self._window)

    def peek_features(self) -> list[Any]:
        """A copy of the drift window, oldest first."""
        with self._lock:
            return list(self._window)

    def drain_features(self) -> list[Any]:
        """Take the drift window (oldest first), leaving it empty."""
        with self._lock:
            rows = list(self._window)
            self._window.clear()
            return rows

    def restore_features(self, rows: list[Any]) -> None:
        """Put rows back in front of the window (a check that could not use them)."""
        with self._lock:
            newer = list(self._window)
            self._window.clear()
            self._window.extend(rows)
            self._window.extend(newer)

    def records(self) -> list[PredictionRecord]:
        """A copy of the prediction log, oldest first."""
        with self._lock:
            return list(self._records.values())

    def load(self, records: list[PredictionRecord], features: list[Any]) -> None:
        """Replace the contents (used when restoring saved state)."""
        with self._lock:
            self._records = OrderedDict((r.prediction_id, r) for r in records[-self.capacity :])
            self._window.clear()
            self._window.extend(features)
