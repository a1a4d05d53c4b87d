"""Inference stores: where recorded predictions, their labels and drift rows are kept.

:class:`InferenceStore` is the interface every store implements; each store instance is scoped
to one stream (``model_name``, ``model_version``), so several models can share one database.
:class:`~mlflow_monitor.store.memory.InMemoryStore` keeps a bounded log inside one process;
:class:`~mlflow_monitor.store.sql.store.SqlInferenceStore` keeps everything in a database shared by
the serving processes and the ``check`` command.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from mlflow_monitor._types import Label
from mlflow_monitor.exceptions import StoreError

if TYPE_CHECKING:
    from mlflow_monitor.store.leadership import Leadership

__all__ = [
    "ClassProbabilities",
    "InferenceStore",
    "PredictionBatch",
    "PredictionRecord",
    "StoreCounts",
    "StoreError",
    "as_list",
    "feature_rows",
    "vector_rows",
]


# A batch's class-probability vectors: an (n, k) float matrix, or one vector (or None) per row.
ClassProbabilities = npt.NDArray[np.float64] | Sequence[npt.NDArray[np.float64] | None]

# Fired triggers an in-memory store keeps for status reports.
TRIGGERS_KEPT = 1000
# Checks an in-memory store keeps for the reports' timelines.
CHECKS_KEPT = 500


@dataclass(slots=True)
class PredictionRecord:
    """One recorded prediction and, once known, its true label.

    ``class_probabilities`` is a multiclass prediction's probability of every class (in the
    order of the monitor's ``classes``), when it was recorded; ``probability`` is then the
    predicted class's.
    """

    prediction_id: str
    timestamp: float
    prediction: Label
    probability: float | None
    true_label: Label | None = None
    class_probabilities: list[float] | None = None

    def to_list(self) -> list[Any]:
        """Compact JSON form used in state files (five entries without class probabilities,
        as state files written before they were kept)."""
        row = [
            self.prediction_id,
            self.timestamp,
            self.prediction,
            self.probability,
            self.true_label,
        ]
        if self.class_probabilities is not None:
            row.append(self.class_probabilities)
        return row

    @classmethod
    def from_list(cls, row: list[Any]) -> PredictionRecord:
        """Inverse of :meth:`to_list`."""
        pid, ts, prediction, probability, label, *rest = row
        vector = [float(v) for v in rest[0]] if rest and rest[0] is not None else None
        return cls(str(pid), float(ts), prediction, probability, label, vector)


@dataclass(frozen=True, slots=True)
class PredictionBatch:
    """Validated predictions to store, column by column, one entry per prediction.

    Columns are lists or 1-D numpy arrays (whole model outputs stay arrays, so that recording
    a batch makes no Python object per row); :func:`as_list` turns any of them into plain
    Python values.

    Attributes:
        prediction_ids: unique ids: a list, or the :class:`~mlflow_monitor.store.ids.GeneratedIds`
            of the batch.
        predictions: predicted class labels.
        probabilities: probability of the positive class, or None, per prediction.
        true_labels: true class (or None) per prediction, or None when no label is known.
        features: the drift rows: a 2-D float matrix with one row per prediction; a 2-D
            object array whose rows are raw input values in column order (a monitored
            model's ``input_columns``); a list of raw inputs (for detectors with a
            ``preprocess_fn``); or None.
        timestamp: when the batch was recorded (seconds since the epoch).
        class_probabilities: a multiclass model's probability of every class per prediction
            (columns in the order of the monitor's ``classes``): an ``(n, k)`` float64
            matrix, a list of 1-D float64 vectors (None for a row without one), or None
            when no prediction has them (binary and regression batches).
    """

    prediction_ids: Sequence[str]
    predictions: Sequence[Label] | npt.NDArray[Any]
    probabilities: Sequence[float | None] | npt.NDArray[np.float64]
    true_labels: list[Label | None] | None = None
    features: npt.NDArray[Any] | list[Any] | None = None
    timestamp: float = field(default_factory=time.time)
    class_probabilities: ClassProbabilities | None = None

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
            None if self.class_probabilities is None else self.class_probabilities[rows],
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
        vectors = vector_rows(self.class_probabilities, len(self))
        ts = self.timestamp
        for pid, pred, prob, label, vector in zip(
            as_list(self.prediction_ids),
            as_list(self.predictions),
            as_list(self.probabilities),
            labels,
            vectors,
            strict=True,
        ):
            yield PredictionRecord(
                pid, ts, pred, prob, label, None if vector is None else vector.tolist()
            )


def as_list(column: Sequence[Any] | npt.NDArray[Any]) -> list[Any]:
    """A column as a list of plain Python values (numpy scalars become ``int``/``float``/...)."""
    if isinstance(column, list):
        return column
    tolist = getattr(column, "tolist", None)  # numpy arrays, GeneratedIds
    return list(tolist()) if tolist is not None else list(column)


def vector_rows(
    vectors: ClassProbabilities | None, n: int
) -> Sequence[npt.NDArray[np.float64] | None]:
    """A batch's class-probability vectors, one entry (a 1-D array or None) per row."""
    if vectors is None:
        return [None] * n
    if isinstance(vectors, np.ndarray):
        return list(vectors)
    return vectors


def feature_rows(features: npt.NDArray[Any] | list[Any] | None) -> list[Any]:
    """Drift rows as a list: rows of a float matrix stay 1-D arrays; rows of an object
    matrix (raw values in column order) become lists of values; a list is kept."""
    if features is None:
        return []
    if isinstance(features, np.ndarray):
        return features.tolist() if features.dtype == object else list(features)
    return features


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

    def add_one(
        self,
        prediction_id: str,
        prediction: Label,
        probability: float | None,
        true_label: Label | None,
        features: npt.NDArray[Any] | list[Any] | None,
        timestamp: float,
        class_probabilities: npt.NDArray[np.float64] | None = None,
    ) -> None:
        """Record one prediction: :meth:`add` of a one-row batch (``features`` in the batch
        form, one row; ``class_probabilities`` a 1-D vector or None), which a store may do
        without building the batch."""
        labels: list[Label | None] | None = None if true_label is None else [true_label]
        vectors = None if class_probabilities is None else [class_probabilities]
        self.add(
            PredictionBatch(
                [prediction_id],
                [prediction],
                [probability],
                labels,
                features,
                timestamp,
                vectors,
            )
        )

    @property
    def dropped(self) -> int:
        """Predictions this process's store accepted and then lost (a full write queue, a
        database that kept failing); a synchronous store, which refuses instead, loses none."""
        return 0

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

    def recent_predictions(self, n: int) -> list[tuple[Label, float | None]]:
        """The ``n`` most recently recorded ``(prediction, probability)`` pairs, oldest
        first, labelled or not (what prediction drift compares with the reference's).

        A store of your own may leave it out: prediction drift is then not checked.
        """
        return []

    def recent_outputs(
        self, n: int
    ) -> list[tuple[Label, float | None, npt.NDArray[np.float64] | None]]:
        """The ``n`` most recently recorded ``(prediction, probability, class_probabilities)``
        triples, oldest first: :meth:`recent_predictions` with each prediction's vector of
        class probabilities (None where none was recorded).

        A store of your own may leave it out: its predictions then read as having no vector
        (multiclass prediction drift tests the class balance only, and the monitor's
        multiclass estimate is not made).
        """
        return [(p, q, None) for p, q in self.recent_predictions(n)]

    def labelled_among_recent(self, n: int) -> int | None:
        """How many of the ``n`` most recently recorded predictions have a label.

        A performance check compares it with ``performance_min_samples``: while the recent
        predictions are mostly unlabelled, the labelled window is of older traffic, and an
        estimated degradation of the recent traffic decides. A store of your own may leave it
        out (None: unknown); the labelled window then counts as covering the recent traffic.
        """
        return None

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

    def check_history(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest ``limit`` kept checks of every kind, oldest first (for timelines).

        A store that keeps only the last check of each kind returns those.
        """
        checks = list(self.last_checks().values())
        return sorted(checks, key=lambda c: str(c.get("timestamp", "")))[-limit:]

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
            A :class:`~mlflow_monitor.store.sql.leadership.Leadership`, not yet acquired.
        """
        from mlflow_monitor.store.leadership import SoleLeadership

        return SoleLeadership(name)
