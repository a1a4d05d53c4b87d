"""InMemoryStore: a bounded inference store inside one process, kept batch by batch.

Each recorded batch stays one :class:`_Block` of columns (the model's output arrays as they
came, the batch's :class:`~mlflow_monitor.store.ids.GeneratedIds`), so recording 10,000
predictions adds one object, not 10,000 records and dict entries. A prediction is found by
its id through the prefix of its batch's generated ids, or through an id index for ids the
caller chose. Small batches (single predictions above all) go into a growing block of lists
instead, so that a stream of one-row calls does not make one block per row.

The store keeps the latest ``capacity`` predictions (older ones are evicted, whole blocks or
the front of the oldest, and can no longer receive feedback), the labelled pairs in arrival
order, and the drift rows recorded since the last check (at most ``window_size``, the most
recent).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from mlflow_monitor._types import Label
from mlflow_monitor.exceptions import FeedbackError, UnknownPredictionError
from mlflow_monitor.store.ids import ID_LENGTH, PREFIX_LENGTH, GeneratedIds
from mlflow_monitor.store.interface import (
    CHECKS_KEPT,
    TRIGGERS_KEPT,
    ClassProbabilities,
    InferenceStore,
    PredictionBatch,
    PredictionRecord,
    StoreCounts,
    as_list,
    feature_rows,
    vector_rows,
)

__all__ = ["InMemoryStore"]

# Batches up to this size are appended to the growing list block (their ids are formatted
# and indexed one by one); larger ones become a block of their own.
_SMALL_BATCH = 64
# A growing list block is closed at this many rows.
_LIST_BLOCK_ROWS = 4096


class _Block:
    """The columns of one recorded batch (or of several small ones, as lists).

    Rows before ``start`` have been evicted. ``labels`` is None until a row gets a label;
    ``vectors`` (class probabilities: a batch's matrix, or a list with None for rows without)
    is None while no row has one. ``timestamps`` is one float for a batch, a list (one per
    row) for a list block.
    """

    __slots__ = (
        "ids",
        "labels",
        "predictions",
        "probabilities",
        "start",
        "timestamps",
        "vectors",
    )

    def __init__(
        self,
        ids: GeneratedIds | list[str],
        predictions: Sequence[Any] | npt.NDArray[Any],
        probabilities: Sequence[Any] | npt.NDArray[Any],
        labels: list[Any] | None,
        timestamps: float | list[float],
        vectors: ClassProbabilities | None = None,
    ) -> None:
        self.ids = ids
        self.predictions = predictions
        self.probabilities = probabilities
        self.labels = labels
        self.timestamps = timestamps
        self.vectors = vectors
        self.start = 0

    def __len__(self) -> int:
        return len(self.ids)

    def growable(self) -> bool:
        return isinstance(self.timestamps, list) and len(self.ids) < _LIST_BLOCK_ROWS

    def append(self, batch: PredictionBatch, ids: list[str]) -> None:
        """Add a small batch's rows (a list block only)."""
        assert isinstance(self.ids, list) and isinstance(self.timestamps, list)
        n = len(ids)
        if batch.true_labels is not None and self.labels is None:
            self.labels = [None] * len(self.ids)
        if batch.class_probabilities is not None or self.vectors is not None:
            if self.vectors is None:
                self.vectors = [None] * len(self.ids)
            self.vectors.extend(vector_rows(batch.class_probabilities, n))  # type: ignore[union-attr]
        self.ids.extend(ids)
        self.predictions.extend(as_list(batch.predictions))  # type: ignore[union-attr]
        self.probabilities.extend(as_list(batch.probabilities))  # type: ignore[union-attr]
        if self.labels is not None:
            self.labels.extend(batch.true_labels or repeat(None, n))
        self.timestamps.extend(repeat(batch.timestamp, n))

    def vector(self, i: int) -> npt.NDArray[np.float64] | None:
        """Row ``i``'s class probabilities, or None."""
        return None if self.vectors is None else self.vectors[i]

    def record(self, i: int) -> PredictionRecord:
        """Row ``i`` as a record."""
        ts = self.timestamps if isinstance(self.timestamps, float) else self.timestamps[i]
        vector = self.vector(i)
        return PredictionRecord(
            self.ids[i],
            ts,
            _plain(self.predictions[i]),
            _plain(self.probabilities[i]),
            None if self.labels is None else self.labels[i],
            None if vector is None else vector.tolist(),
        )

    def records(self) -> list[PredictionRecord]:
        """The rows still held, as records."""
        a, b = self.start, len(self)
        ids = self.ids[a:b]
        stamps = (
            repeat(self.timestamps, b - a)
            if isinstance(self.timestamps, float)
            else self.timestamps[a:b]
        )
        labels = repeat(None, b - a) if self.labels is None else self.labels[a:b]
        vectors = (
            repeat(None, b - a)
            if self.vectors is None
            else (None if v is None else v.tolist() for v in self.vectors[a:b])
        )
        return [
            PredictionRecord(*row)
            for row in zip(
                as_list(ids),
                stamps,
                as_list(self.predictions[a:b]),
                as_list(self.probabilities[a:b]),
                labels,
                vectors,
                strict=False,
            )
        ]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


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
        self._blocks: deque[_Block] = deque()
        self._held = 0
        self._index: dict[str, tuple[_Block, int]] = {}  # ids given as lists
        self._by_prefix: dict[str, _Block] = {}  # blocks of generated ids
        self._labelled: deque[tuple[Label, Label]] = deque(maxlen=labelled_size or capacity)
        self._window: deque[npt.NDArray[Any] | list[Any]] = deque()
        self._window_rows = 0
        self._lock = threading.Lock()
        self._n_labels = 0
        self.evicted = 0
        self._last_checks: dict[str, dict[str, Any]] = {}
        self._checks: deque[dict[str, Any]] = deque(maxlen=CHECKS_KEPT)
        self._triggers: deque[dict[str, Any]] = deque(maxlen=TRIGGERS_KEPT)
        self._n_triggers = 0

    def __len__(self) -> int:
        return self._held

    def __contains__(self, prediction_id: object) -> bool:
        return isinstance(prediction_id, str) and self._find(prediction_id) is not None

    def _find(self, prediction_id: str) -> tuple[_Block, int] | None:
        """The block and row of a held prediction (call with the lock held, or for a peek)."""
        found = self._index.get(prediction_id)
        if found is not None:
            return found
        if len(prediction_id) == ID_LENGTH:
            block = self._by_prefix.get(prediction_id[:PREFIX_LENGTH])
            if block is not None:
                position = block.ids.position(prediction_id)  # type: ignore[union-attr]
                if position is not None and position >= block.start:
                    return block, position
        return None

    # -- recording -----------------------------------------------------------------------

    def add(self, batch: PredictionBatch) -> None:
        """Store a batch of predictions (and their feature rows for the drift window).

        Raises:
            FeedbackError: an id is already in the store or repeated in the batch; nothing
                is stored then.
        """
        n = len(batch)
        if n == 0:
            return
        rows = _last_rows(batch.features, self.window_size)
        if n == 1 and isinstance(batch.prediction_ids, list):
            self.add_one(
                batch.prediction_ids[0],
                _plain(batch.predictions[0]),
                _plain(batch.probabilities[0]),
                None if batch.true_labels is None else batch.true_labels[0],
                rows,
                batch.timestamp,
                vector_rows(batch.class_probabilities, 1)[0],
            )
            return
        generated = isinstance(batch.prediction_ids, GeneratedIds) and n > _SMALL_BATCH
        ids: GeneratedIds | list[str] = (
            batch.prediction_ids if generated else as_list(batch.prediction_ids)  # type: ignore[assignment]
        )
        with self._lock:
            if isinstance(ids, GeneratedIds):
                if ids.prefix in self._by_prefix:
                    raise FeedbackError(
                        f"prediction_id {ids[0]!r} was already recorded; ids must be unique"
                    )
            else:
                self._refuse_known(ids)
            self._store(batch, ids)
            self._n_labels += batch.n_labels
            if batch.true_labels is not None:
                self._labelled.extend(
                    (p, t)
                    for p, t in zip(as_list(batch.predictions), batch.true_labels, strict=True)
                    if t is not None
                )
            self._evict(self._held - self.capacity)
            if rows is not None:
                self._extend_window(rows)

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
        """Store one prediction (the common case of :meth:`add`, without a batch).

        Raises:
            FeedbackError: the id is already in the store; nothing is stored then.
        """
        with self._lock:
            if self._find(prediction_id) is not None:
                raise FeedbackError(
                    f"prediction_id {prediction_id!r} was already recorded; ids must be unique"
                )
            tail = self._tail_block()
            self._index[prediction_id] = (tail, len(tail.ids))
            if class_probabilities is not None or tail.vectors is not None:
                if tail.vectors is None:
                    tail.vectors = [None] * len(tail.ids)
                tail.vectors.append(class_probabilities)  # type: ignore[union-attr]
            tail.ids.append(prediction_id)  # type: ignore[union-attr]
            tail.predictions.append(prediction)  # type: ignore[union-attr]
            tail.probabilities.append(probability)  # type: ignore[union-attr]
            tail.timestamps.append(timestamp)  # type: ignore[union-attr]
            if true_label is not None or tail.labels is not None:
                if tail.labels is None:
                    tail.labels = [None] * (len(tail.ids) - 1)
                tail.labels.append(true_label)
                if true_label is not None:
                    self._labelled.append((prediction, true_label))
                    self._n_labels += 1
            self._held += 1
            if self._held > self.capacity:
                self._evict(self._held - self.capacity)
            if features is not None and self.window_size > 0:
                self._extend_window(features)

    def _refuse_known(self, ids: list[str]) -> None:
        """Raise for the first id that is held already or repeated in ``ids``."""
        fresh = self._index.keys().isdisjoint(ids) and len(set(ids)) == len(ids)
        if fresh and self._by_prefix:
            fresh = not any(self._find(pid) for pid in ids if len(pid) == ID_LENGTH)
        if fresh:
            return
        seen: set[str] = set()
        for pid in ids:
            if pid in seen or self._find(pid) is not None:
                raise FeedbackError(
                    f"prediction_id {pid!r} was already recorded; ids must be unique"
                )
            seen.add(pid)

    def _store(self, batch: PredictionBatch, ids: GeneratedIds | list[str]) -> None:
        n = len(ids)
        if isinstance(ids, GeneratedIds):
            labels = None if batch.true_labels is None else list(batch.true_labels)
            block = _Block(
                ids,
                batch.predictions,
                batch.probabilities,
                labels,
                batch.timestamp,
                batch.class_probabilities,
            )
            self._blocks.append(block)
            self._by_prefix[ids.prefix] = block
        elif n <= _SMALL_BATCH:
            tail = self._tail_block()
            first = len(tail)
            tail.append(batch, ids)
            self._index.update(zip(ids, zip(repeat(tail), range(first, first + n)), strict=True))
        else:
            block = _Block(
                ids,
                batch.predictions,
                batch.probabilities,
                None if batch.true_labels is None else list(batch.true_labels),
                batch.timestamp,
                batch.class_probabilities,
            )
            self._blocks.append(block)
            self._index.update(zip(ids, zip(repeat(block), range(n)), strict=True))
        self._held += n

    def _tail_block(self) -> _Block:
        """The growing list block small batches go into (a new one when the last is full)."""
        tail = self._blocks[-1] if self._blocks else None
        if tail is None or not tail.growable():
            tail = _Block([], [], [], None, [])
            self._blocks.append(tail)
        return tail

    def _evict(self, excess: int) -> None:
        """Drop the ``excess`` oldest predictions."""
        while excess > 0:
            block = self._blocks[0]
            a = block.start
            b = min(len(block), a + excess)
            if isinstance(block.ids, list):
                for pid in block.ids[a:b]:
                    del self._index[pid]
            if block.labels is not None:
                self._n_labels -= (b - a) - block.labels[a:b].count(None)
            block.start = b
            self._held -= b - a
            self.evicted += b - a
            excess -= b - a
            if b == len(block):
                self._blocks.popleft()
                if isinstance(block.ids, GeneratedIds):
                    del self._by_prefix[block.ids.prefix]

    def _extend_window(self, rows: npt.NDArray[Any] | list[Any]) -> None:
        self._window.append(rows)
        self._window_rows += len(rows)
        while self._window_rows - len(self._window[0]) >= self.window_size:
            self._window_rows -= len(self._window.popleft())

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing to wait for: :meth:`add` stores synchronously."""
        return True

    def close(self) -> None:
        """Nothing to release."""

    # -- feedback ------------------------------------------------------------------------

    def label(self, prediction_id: str, true_label: Label) -> PredictionRecord:
        """Attach the true label to a recorded prediction.

        Returns:
            The labelled record.

        Raises:
            UnknownPredictionError: no prediction with that id is held.
            FeedbackError: the prediction already has a label.
        """
        with self._lock:
            found = self._find(prediction_id)
            if found is None:
                raise UnknownPredictionError(
                    f"unknown prediction_id {prediction_id!r}: never recorded, or older than "
                    f"the last {self.capacity} predictions kept for feedback"
                )
            block, i = found
            if block.labels is None:
                block.labels = [None] * len(block)
            elif block.labels[i] is not None:
                raise FeedbackError(
                    f"prediction_id {prediction_id!r} already has true_label "
                    f"{block.labels[i]!r}; labels are not overwritten"
                )
            block.labels[i] = true_label
            record = block.record(i)
            self._labelled.append((record.prediction, true_label))
            self._n_labels += 1
            return record

    def labelled_window(self, n: int) -> list[tuple[Label, Label]]:
        """The ``n`` most recently labelled ``(prediction, true_label)`` pairs, oldest first."""
        with self._lock:
            start = max(len(self._labelled) - n, 0)
            return [self._labelled[i] for i in range(start, len(self._labelled))]

    def recent_predictions(self, n: int) -> list[tuple[Label, float | None]]:
        """The ``n`` most recently recorded ``(prediction, probability)`` pairs, oldest first."""
        parts: list[list[tuple[Label, float | None]]] = []
        with self._lock:
            for block, start, end in self._latest_rows(n):
                predicted = as_list(block.predictions[start:end])
                scores = as_list(block.probabilities[start:end])
                parts.append(
                    [(_plain(p), _plain(q)) for p, q in zip(predicted, scores, strict=True)]
                )
        return [pair for part in reversed(parts) for pair in part]

    def recent_outputs(
        self, n: int
    ) -> list[tuple[Label, float | None, npt.NDArray[np.float64] | None]]:
        """The ``n`` most recently recorded ``(prediction, probability, class_probabilities)``
        triples, oldest first."""
        parts: list[list[tuple[Label, float | None, npt.NDArray[np.float64] | None]]] = []
        with self._lock:
            for block, start, end in self._latest_rows(n):
                take = end - start
                predicted = as_list(block.predictions[start:end])
                scores = as_list(block.probabilities[start:end])
                vectors = (
                    repeat(None, take)
                    if block.vectors is None
                    else vector_rows(block.vectors[start:end], take)
                )
                parts.append(
                    [
                        (_plain(p), _plain(q), v)
                        for p, q, v in zip(predicted, scores, vectors, strict=False)
                    ]
                )
        return [triple for part in reversed(parts) for triple in part]

    def _latest_rows(self, n: int) -> Iterator[tuple[_Block, int, int]]:
        """``(block, start, end)`` of the ``n`` most recent rows, newest block first; the
        caller holds the lock."""
        wanted = n
        for block in reversed(self._blocks):
            end = len(block)
            take = min(end - block.start, wanted)
            if take <= 0:
                return
            yield block, end - take, end
            wanted -= take

    def labelled_among_recent(self, n: int) -> int:
        """How many of the ``n`` most recently recorded predictions have a label."""
        with self._lock:
            return sum(
                sum(v is not None for v in block.labels[start:end])
                for block, start, end in self._latest_rows(n)
                if block.labels is not None
            )

    # -- drift rows ----------------------------------------------------------------------

    def take_features(self, min_rows: int, max_rows: int) -> list[Any] | None:
        """Take the drift window (its last ``max_rows`` rows), or None below ``min_rows``."""
        with self._lock:
            if self.pending_features() < min_rows:
                return None
            rows = self._window_list()[-max_rows:] if max_rows > 0 else []
            self._window.clear()
            self._window_rows = 0
            return rows

    def _window_list(self) -> list[Any]:
        rows: list[Any] = []
        for block in self._window:
            rows.extend(feature_rows(block))
        return rows[-self.window_size :] if self.window_size > 0 else []

    def pending_features(self) -> int:
        """Feature rows waiting for the next drift check."""
        return min(self._window_rows, self.window_size)

    def peek_features(self) -> list[Any]:
        """A copy of the drift window, oldest first."""
        with self._lock:
            return self._window_list()

    # -- status --------------------------------------------------------------------------

    def counts(self) -> StoreCounts:
        """Predictions and labels held."""
        with self._lock:
            return StoreCounts(self._held, self._n_labels)

    def record_check(self, result: Mapping[str, Any]) -> None:
        """Keep the latest check of its kind."""
        with self._lock:
            self._last_checks[str(result["kind"])] = dict(result)
            self._checks.append(dict(result))

    def last_checks(self) -> dict[str, dict[str, Any]]:
        """The latest kept check of each kind."""
        with self._lock:
            return dict(self._last_checks)

    def check_history(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest ``limit`` kept checks (of the last :data:`CHECKS_KEPT`), oldest first."""
        with self._lock:
            return list(self._checks)[-limit:] if limit > 0 else []

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

    # -- whole contents (state files) ----------------------------------------------------

    def get(self, prediction_id: str) -> PredictionRecord | None:
        """The record for an id, or None."""
        with self._lock:
            found = self._find(prediction_id)
            return None if found is None else found[0].record(found[1])

    def records(self) -> list[PredictionRecord]:
        """A copy of the prediction log, oldest first."""
        with self._lock:
            return [record for block in self._blocks for record in block.records()]

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
        kept = records[-self.capacity :] if self.capacity > 0 else []
        block = _Block(
            [r.prediction_id for r in kept],
            [r.prediction for r in kept],
            [r.probability for r in kept],
            [r.true_label for r in kept],
            [r.timestamp for r in kept],
            [
                None if r.class_probabilities is None else np.asarray(r.class_probabilities, float)
                for r in kept
            ]
            if any(r.class_probabilities is not None for r in kept)
            else None,
        )
        with self._lock:
            self._blocks = deque([block]) if kept else deque()
            self._by_prefix = {}
            self._index = {pid: (block, i) for i, pid in enumerate(block.ids)}
            self._held = len(kept)
            self._n_labels = sum(r.true_label is not None for r in kept)
            self._labelled.clear()
            self._labelled.extend(labelled)
            self._window.clear()
            self._window_rows = 0
            if features:
                self._extend_window(list(features))


def _last_rows(
    features: npt.NDArray[Any] | list[Any] | None, n: int
) -> npt.NDArray[Any] | list[Any] | None:
    """The last ``n`` drift rows of a batch, not holding on to the rest of its matrix."""
    if features is None or n <= 0:
        return None
    if isinstance(features, np.ndarray):
        # A slice would keep the whole batch matrix alive; copy the rows that are kept.
        return features[-n:].copy() if len(features) > n else features
    return features[-n:]
