"""BatchWriter: the write queue of a SQL inference store and the thread that empties it.

:meth:`BatchWriter.add` puts a batch on a bounded in-memory queue and returns; it never raises
and never touches the database. A daemon thread, started by the first batch, inserts queued
rows in chunks of at most ``batch_size``, one transaction each, at least every
``flush_seconds``; a row whose id the stream already holds is left out and counted
(``rejected``). A row the database or its driver refuses (PostgreSQL: a NUL in text; a lone
surrogate no driver can encode) is isolated by halving the chunk until it stands alone, then
dropped and counted; its neighbours are written. While the database is unreachable (stopped,
restarting, a SQLite file locked past the busy timeout) the rows stay queued and the thread
tries again, waiting up to 5 s between attempts. When the queue is full, ``add`` waits
``put_timeout`` seconds at most, then drops what does not fit and counts it (``dropped``).
:meth:`~BatchWriter.close` writes what is queued, giving an unreachable database a set time
before it drops (and counts) the rest.

:class:`~mlflow_monitor.store.sql.store.SqlInferenceStore` owns one writer and does the reading;
the tables and how rows are encoded are in :mod:`mlflow_monitor.store.sql.schema`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from itertools import groupby, repeat
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from mlflow_monitor.store.interface import PredictionBatch, as_list, feature_rows
from mlflow_monitor.store.sql.schema import (
    FEEDBACK_COLUMNS,
    PREDICTION_COLUMNS,
    VECTOR_PREDICTION_COLUMNS,
    Row,
    bulk_insert,
    encode_label,
    encode_raw_features,
    feature_blobs,
    feedback,
    is_postgresql,
    predictions,
    stream_lock_key,
    vector_blob,
)

__all__ = ["BatchWriter", "first_line"]

logger = logging.getLogger(__name__)

_WRITE_ATTEMPTS = 3
# While the database is unreachable the writer keeps the rows queued and tries again after
# waits growing from the first to the last of these (seconds).
_RETRY_FIRST, _RETRY_LAST = 0.2, 5.0
# Longest a last write attempt may take (libpq's timeouts), for close() to wait for it.
_LAST_ATTEMPT_SECONDS = 30.0
_WARN_EVERY = 60.0
# Positions in a prediction parameter row.
_STREAM, _ID_COLUMN, _TIMESTAMP = (
    PREDICTION_COLUMNS.index(c) for c in ("stream_id", "prediction_id", "timestamp")
)


def first_line(exc: Exception) -> str:
    """The first line of an error's message (database errors run to many), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class BatchWriter:
    """Writes one stream's recorded batches to the database from a bounded queue, on a
    background thread.

    Args:
        engine: the database; the writer borrows its connections, its owner disposes it.
        stream: the ``stream_id`` the rows are written under.
        owner: the store this writer writes for; the running thread keeps it alive.
        thread_name: name of the writer thread.
        batch_size: most rows written per transaction.
        flush_seconds: longest time a queued row waits before the thread writes it.
        queue_size: most rows queued; beyond it, rows are dropped and counted.
        put_timeout: longest time :meth:`add` waits for room in a full queue.

    Attributes:
        dropped: rows lost: no room in the queue, added after :meth:`close`, refused by
            the database, or still queued when :meth:`close` gave up.
        rejected: rows left out because their id was already recorded.
        unavailable_since: monotonic time the database became unreachable; None while it
            answers.
    """

    def __init__(
        self,
        engine: Engine,
        stream: int,
        owner: object,
        *,
        thread_name: str,
        batch_size: int,
        flush_seconds: float,
        queue_size: int,
        put_timeout: float,
    ) -> None:
        self.engine = engine
        self.uri = engine.url.render_as_string(hide_password=True)
        self.thread_name = thread_name
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.queue_size = queue_size
        self.put_timeout = put_timeout
        self._stream = stream
        self._owner = weakref.ref(owner)
        self._insert_predictions = bulk_insert(engine, predictions, PREDICTION_COLUMNS)
        self._insert_vector_predictions = bulk_insert(
            engine, predictions, VECTOR_PREDICTION_COLUMNS
        )
        self._wide_rows = False  # whether a row with class probabilities was ever made
        self._insert_feedback = bulk_insert(engine, feedback, FEEDBACK_COLUMNS)
        self._postgresql = is_postgresql(engine)
        self._cursor_lock = stream_lock_key(stream)
        # Set by the store for a SQLite file: why the file is gone from its path, or None.
        self.check_file: Callable[[], str | None] | None = None
        self.reset()

    def reset(self) -> None:
        """Fresh queue, thread state and counts (also in a forked child, which must not
        inherit the parent's: the parent writes its queued rows)."""
        self.dropped = 0
        self.rejected = 0
        self._cond = threading.Condition()
        self._queue: deque[PredictionBatch] = deque()
        self._queued = 0  # rows in the queue
        self._enqueued = 0  # rows ever accepted
        self._done = 0  # rows written, rejected or dropped by the writer
        self._flush_target = 0
        self._closed = False
        self._closing = threading.Event()  # ends the writer's waits for the database
        self._close_deadline = float("inf")
        self.unavailable_since: float | None = None  # monotonic time the database went away
        self._thread: threading.Thread | None = None
        self._last_warning = float("-inf")

    @property
    def queued(self) -> int:
        """Rows waiting in the queue now."""
        with self._cond:
            return self._queued

    def counts(self) -> tuple[int, int, int]:
        """Rows queued, dropped and rejected, read together."""
        with self._cond:
            return self._queued, self.dropped, self.rejected

    # -- queueing ------------------------------------------------------------------------

    def add(self, batch: PredictionBatch) -> None:
        """Queue a batch for the writer thread and return; never raises.

        Rows that find no room in the queue within ``put_timeout`` seconds (or arrive after
        :meth:`close`) are dropped and counted in ``dropped``. Ids already in the database
        are rejected by the writer thread and counted in ``rejected``.
        """
        n = len(batch)
        if n == 0:
            return
        with self._cond:
            if self._thread is None and not self._closed:
                self._start()
            room = self.queue_size - self._queued
            if room < n and not self._closed:
                deadline = time.monotonic() + self.put_timeout
                while room < n and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self._cond.wait(remaining):
                        break
                    room = self.queue_size - self._queued
            accepted = 0 if self._closed else min(room, n)
            if accepted:
                self._queue.append(batch if accepted == n else batch[:accepted])
                self._queued += accepted
                self._enqueued += accepted
                if self._queued >= self.batch_size:
                    self._cond.notify_all()
            if accepted < n:
                self.dropped += n - accepted
                self._warn("dropped %d predictions: %s", n - accepted, self._drop_reason())

    def _drop_reason(self) -> str:
        if self._closed:
            return "the store is closed"
        return f"the write queue is full ({self.queue_size} rows; is the database slow?)"

    def _warn(self, message: str, *args: object) -> None:
        """Log a warning, at most once a minute, so a struggling store does not flood logs."""
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY:
            self._last_warning = now
            logger.warning(
                message + " (dropped so far: %d, rejected: %d)", *args, self.dropped, self.rejected
            )

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row queued so far is written (or rejected or dropped).

        Args:
            timeout: seconds to wait at most; None waits as long as it takes.

        Returns:
            True when everything queued before the call was handled, False on timeout.
        """
        with self._cond:
            target = self._enqueued
            if self._done >= target:
                return True
            self._flush_target = max(self._flush_target, target)
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._done >= target, timeout)

    def close(self, drain: float) -> None:
        """Write everything queued and stop the thread; later :meth:`add` calls drop their rows.

        Args:
            drain: seconds to keep trying an unreachable database before what is still
                queued is dropped (and counted).
        """
        with self._cond:
            self._closed = True
            self._close_deadline = time.monotonic() + drain
            self._cond.notify_all()
            thread = self._thread
        self._closing.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(drain + _LAST_ATTEMPT_SECONDS)

    # -- the writer thread ---------------------------------------------------------------

    def _start(self) -> None:
        # The running thread holds the owning store, so a store that still has a writer is
        # never collected and the exit hook that closes open stores writes its queue.
        self._thread = threading.Thread(
            target=self._run, args=(self._owner(),), name=self.thread_name, daemon=True
        )
        self._thread.start()

    def _run(self, _owner: object) -> None:
        retry = _RETRY_FIRST / 2
        while True:
            with self._cond:
                deadline = time.monotonic() + self.flush_seconds
                while not self._should_write():
                    remaining = deadline - time.monotonic()
                    if self._closed or remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if not self._queue:
                    if self._closed:
                        return
                    continue
                chunk = self._pop(self.batch_size)
                self._cond.notify_all()  # room in the queue for blocked adds
            rows = sum(len(b) for b in chunk)
            try:
                self._write(chunk)
            except _UnavailableError as exc:
                if self._requeue(chunk, rows, exc):
                    retry = min(retry * 2, _RETRY_LAST)
                    if self._closing.is_set():  # draining at close: keep trying, gently
                        time.sleep(min(retry, 0.5))
                    else:
                        self._closing.wait(retry)
                    continue
            except Exception:  # the writer must survive anything; the rows are lost then
                logger.exception("writing %d predictions to %s failed", rows, self.uri)
                with self._cond:
                    self.dropped += rows
            else:
                retry = _RETRY_FIRST / 2
                if self.unavailable_since is not None:
                    logger.warning("the inference store at %s is back; writing", self.uri)
                    self.unavailable_since = None
            with self._cond:
                self._done += rows
                self._cond.notify_all()

    def _requeue(self, chunk: list[PredictionBatch], rows: int, exc: Exception) -> bool:
        """Put a chunk the unreachable database refused back at the head of the queue.

        Returns:
            True when it waits there for the next attempt; False when the writer is closing
            and its drain time is over, so the rows are dropped (and counted).
        """
        with self._cond:
            if self.unavailable_since is None:
                self.unavailable_since = time.monotonic()
            if self._closed and time.monotonic() >= self._close_deadline:
                self.dropped += rows
                logger.error(
                    "dropping %d queued predictions: the inference store at %s is still "
                    "unavailable at shutdown: %s",
                    rows,
                    self.uri,
                    exc,
                )
                return False
            self._queue.extendleft(reversed(chunk))
            self._queued += rows
            self._warn(
                "the inference store at %s is unavailable (%s); %d predictions wait in the "
                "queue (room for %d)",
                self.uri,
                first_line(exc),
                self._queued,
                self.queue_size,
            )
            return True

    def _should_write(self) -> bool:
        return self._queued >= self.batch_size or (
            self._queued > 0 and (self._closed or self._flush_target > self._done)
        )

    def _pop(self, limit: int) -> list[PredictionBatch]:
        chunk: list[PredictionBatch] = []
        taken = 0
        while self._queue and taken < limit:
            batch = self._queue.popleft()
            if taken + len(batch) > limit:
                self._queue.appendleft(batch[limit - taken :])
                batch = batch[: limit - taken]
            chunk.append(batch)
            taken += len(batch)
        self._queued -= taken
        return chunk

    # -- inserting -----------------------------------------------------------------------

    def _write(self, chunk: list[PredictionBatch]) -> None:
        """Insert a chunk in one transaction, retrying transient errors; then count losses."""
        problem = self.check_file() if self.check_file is not None else None
        if problem is not None:  # the rows would go into a file no path leads to: lost
            n = sum(len(b) for b in chunk)
            with self._cond:
                self.dropped += n
                self._warn("dropped %d predictions: %s", n, problem)
            return
        rows, labels = self._rows(chunk)
        self._write_rows(rows, labels)

    def _write_rows(self, rows: list[Row], labels: list[str | None]) -> None:
        """Insert rows in one transaction; rows the database refuses are isolated by halving
        the rows until the bad one stands alone, so it never takes its neighbours with it.

        Raises:
            _UnavailableError: the database cannot be reached; nothing was written.
        """
        error: Exception
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                try:
                    with self.engine.begin() as conn:
                        self._insert(conn, rows, labels)
                except IntegrityError:
                    self._write_new_only(rows, labels)
                return
            except SQLAlchemyError as exc:
                if _is_unavailable(exc):
                    raise _UnavailableError(str(exc)) from exc
                error = exc
                if isinstance(exc, sa.exc.DataError) or not isinstance(exc, sa.exc.DBAPIError):
                    break  # a value the database or driver refused: retrying cannot help
                if attempt < _WRITE_ATTEMPTS:
                    time.sleep(0.2 * attempt)
            except (UnicodeError, ValueError, TypeError) as exc:
                error = exc  # a value the driver cannot encode (SQLite: a lone surrogate)
                break
        self._isolate(rows, labels, error)

    def _isolate(self, rows: list[Row], labels: list[str | None], error: Exception) -> None:
        """Write the halves of rows refused together; drop (and count) a lone refused row."""
        if len(rows) > 1:
            middle = len(rows) // 2
            self._write_rows(rows[:middle], labels[:middle])
            self._write_rows(rows[middle:], labels[middle:])
            return
        with self._cond:
            self.dropped += len(rows)
            self._warn(
                "dropped prediction %a: the inference store at %s refused it: %s",
                rows[0][_ID_COLUMN][:100] if rows else None,
                self.uri,
                first_line(error),
            )

    def _insert(self, conn: Connection, rows: list[Row], labels: list[str | None]) -> None:
        """Insert prediction rows, and feedback rows for those that come with a label."""
        if rows:
            if self._postgresql:
                # Shared with other writers, exclusive for the store's take_features: see there.
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(*self._cursor_lock)))
            self._insert_prediction_rows(conn, rows)
        label_rows = [
            (row[_STREAM], row[_ID_COLUMN], label, row[_TIMESTAMP])
            for row, label in zip(rows, labels, strict=True)
            if label is not None
        ]
        if label_rows:
            self._insert_feedback(conn, label_rows)

    def _insert_prediction_rows(self, conn: Connection, rows: list[Row]) -> None:
        """Rows with class probabilities (one column more) and rows without, in their order."""
        if not self._wide_rows:  # binary and regression: no row has them, nothing to sort
            self._insert_predictions(conn, rows)
            return
        plain = len(PREDICTION_COLUMNS)
        for wide, run in groupby(rows, key=lambda row: len(row) > plain):
            insert = self._insert_vector_predictions if wide else self._insert_predictions
            insert(conn, list(run))

    def _write_new_only(self, rows: list[Row], labels: list[str | None]) -> None:
        """Insert the rows whose ids are new (first of repeats), counting the rest rejected."""
        with self.engine.connect() as conn:
            taken = set(self._existing_ids(conn, [row[_ID_COLUMN] for row in rows]))
        fresh: list[Row] = []
        fresh_labels: list[str | None] = []
        rejected: list[str] = []
        for row, label in zip(rows, labels, strict=True):
            if row[_ID_COLUMN] in taken:
                rejected.append(row[_ID_COLUMN])
            else:
                taken.add(row[_ID_COLUMN])
                fresh.append(row)
                fresh_labels.append(label)
        with self.engine.begin() as conn:
            self._insert(conn, fresh, fresh_labels)
        with self._cond:
            self.rejected += len(rejected)
            self._warn(
                "rejected %d predictions whose id was already recorded, e.g. %r",
                len(rejected),
                rejected[:3],
            )

    def _existing_ids(self, conn: Connection, ids: Sequence[str]) -> Iterable[str]:
        p = predictions.c
        for start in range(0, len(ids), 500):
            query = sa.select(p.prediction_id).where(
                p.stream_id == self._stream, p.prediction_id.in_(ids[start : start + 500])
            )
            yield from conn.execute(query).scalars()

    def _rows(self, chunk: list[PredictionBatch]) -> tuple[list[Row], list[str | None]]:
        """Parameter rows of the predictions, and the encoded true label (or None) of each."""
        stream = self._stream
        rows: list[Row] = []
        labels: list[str | None] = []
        for batch in chunk:
            ts = batch.timestamp
            blobs: Iterable[bytes | None] = repeat(None)
            raws: Iterable[str | None] = repeat(None)
            features = batch.features
            if isinstance(features, np.ndarray) and features.dtype != object:
                blobs = feature_blobs(features)
            elif features is not None:
                raws = [self._raw_json(v) for v in feature_rows(features)]
            vectors = batch.class_probabilities
            if vectors is not None:
                self._wide_rows = True  # rows of two widths may be queued from now on
                # a matrix is encoded in one pass, as the feature rows are
                vector_blobs = (
                    feature_blobs(vectors)
                    if isinstance(vectors, np.ndarray)
                    else [vector_blob(v) for v in vectors]
                )
                rows.extend(
                    (stream, pid, ts, encode_label(pred), prob, blob, raw, vector)
                    for pid, pred, prob, blob, raw, vector in zip(
                        as_list(batch.prediction_ids),
                        as_list(batch.predictions),
                        as_list(batch.probabilities),
                        blobs,
                        raws,
                        vector_blobs,
                        strict=False,
                    )
                )
            else:
                rows.extend(
                    (stream, pid, ts, encode_label(pred), prob, blob, raw)
                    # blobs and raws may be endless repeats of None
                    for pid, pred, prob, blob, raw in zip(
                        as_list(batch.prediction_ids),
                        as_list(batch.predictions),
                        as_list(batch.probabilities),
                        blobs,
                        raws,
                        strict=False,
                    )
                )
            if batch.true_labels is None:
                labels.extend(repeat(None, len(batch)))
            else:
                labels.extend(None if t is None else encode_label(t) for t in batch.true_labels)
        return rows, labels

    def _raw_json(self, value: Any) -> str:
        try:
            return encode_raw_features(value)
        except (TypeError, ValueError) as exc:
            self._warn("raw features stored as text, they are not JSON-serialisable: %s", exc)
            return json.dumps(str(value))


class _UnavailableError(Exception):
    """The database cannot be reached: the rows wait, nothing is wrong with them."""


def _is_unavailable(exc: SQLAlchemyError) -> bool:
    """Whether an error means "no database to talk to" rather than "bad rows"."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError)
