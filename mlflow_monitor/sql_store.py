"""SqlInferenceStore: the inference store in a database shared by processes and hosts.

The serving processes record predictions here and the ``check`` command (or any other process)
reads them, so feedback received anywhere counts and drift rows are tested exactly once. It is
written with SQLAlchemy Core on portable types: a SQLite file by default, PostgreSQL when several
hosts serve.

The predict path never waits on the database: :meth:`SqlInferenceStore.add` puts the batch on a
bounded in-memory queue and returns; a daemon writer thread inserts queued rows in batches, one
transaction each. When the queue is full, ``add`` waits ``put_timeout`` seconds at most, then
drops what does not fit and counts it (``counts().dropped``). Queued rows are written on
:meth:`~SqlInferenceStore.close`, which also runs when the interpreter exits normally; a killed
process loses what was still queued (at most ``flush_seconds`` worth of traffic, usually).

Tables (created on first use; ``monitor_schema_version`` holds the schema version):

- ``monitor_streams``: one row per (model name, model version), with the drift cursor: the
  sequence number of the last prediction a drift check consumed.
- ``monitor_predictions``: one row per prediction; labels are JSON (``1`` and ``"1"`` differ),
  numeric drift rows little-endian float64 bytes, raw drift rows (for detectors with a
  ``preprocess_fn``) JSON.
- ``monitor_feedback``: one row per labelled prediction; a unique constraint on the prediction
  makes "labels are not overwritten" hold across processes.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from mlflow_monitor.exceptions import (
    ConfigError,
    FeedbackError,
    MissingDependencyError,
    UnknownPredictionError,
)
from mlflow_monitor.performance import Label
from mlflow_monitor.store import (
    InferenceStore,
    PredictionBatch,
    PredictionRecord,
    StoreCounts,
    StoreError,
)

__all__ = ["SCHEMA_VERSION", "SqlInferenceStore"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: a rowid alias
_NAME = sa.String(255)
_WRITE_ATTEMPTS = 3
_READ_FLUSH_TIMEOUT = 60.0
_WARN_EVERY = 60.0

metadata = sa.MetaData()

schema_version = sa.Table(
    "monitor_schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.Double, nullable=False),
)

streams = sa.Table(
    "monitor_streams",
    metadata,
    sa.Column("stream_id", _ID, primary_key=True, autoincrement=True),
    sa.Column("model_name", _NAME, nullable=False),
    sa.Column("model_version", _NAME, nullable=False),
    sa.Column("drift_cursor", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("model_name", "model_version", name="uq_monitor_streams_model"),
)

predictions = sa.Table(
    "monitor_predictions",
    metadata,
    sa.Column("seq", _ID, primary_key=True, autoincrement=True),
    sa.Column("stream_id", _ID, sa.ForeignKey("monitor_streams.stream_id"), nullable=False),
    sa.Column("prediction_id", _NAME, nullable=False),
    sa.Column("timestamp", sa.Double, nullable=False),
    sa.Column("prediction", sa.Text, nullable=False),
    sa.Column("probability", sa.Double),
    sa.Column("features", sa.LargeBinary),
    sa.Column("raw_features", sa.Text),
    sa.UniqueConstraint("stream_id", "prediction_id", name="uq_monitor_predictions_id"),
    sa.Index("ix_monitor_predictions_stream_seq", "stream_id", "seq"),
    # AUTOINCREMENT: sequence numbers are never reused, even after pruning, so the drift
    # cursor cannot skip new rows.
    sqlite_autoincrement=True,
)

feedback = sa.Table(
    "monitor_feedback",
    metadata,
    sa.Column("seq", _ID, primary_key=True, autoincrement=True),
    sa.Column("stream_id", _ID, sa.ForeignKey("monitor_streams.stream_id"), nullable=False),
    sa.Column("prediction_id", _NAME, nullable=False),
    sa.Column("true_label", sa.Text, nullable=False),
    sa.Column("timestamp", sa.Double, nullable=False),
    sa.UniqueConstraint("stream_id", "prediction_id", name="uq_monitor_feedback_id"),
    sa.Index("ix_monitor_feedback_stream_seq", "stream_id", "seq"),
    sqlite_autoincrement=True,
)

# Parameter rows are tuples in these column orders (see _bulk_insert).
_PREDICTION_COLUMNS = (
    "stream_id",
    "prediction_id",
    "timestamp",
    "prediction",
    "probability",
    "features",
    "raw_features",
)
_FEEDBACK_COLUMNS = ("stream_id", "prediction_id", "true_label", "timestamp")
_STREAM, _ID_COLUMN, _TIMESTAMP = 0, 1, 2
_Row = tuple[Any, ...]

# Upgrades from version N to N + 1, run in one transaction each when an older database is
# opened. Add an entry (and bump SCHEMA_VERSION) with every schema change.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}


class SqlInferenceStore(InferenceStore):
    """Inference store in a SQL database, written in the background.

    Args:
        uri: SQLAlchemy URL, e.g. ``sqlite:///monitoring.db`` or
            ``postgresql+psycopg://user@host/db``.
        model_name: the stream's model name.
        model_version: the stream's model version.
        batch_size: most rows written per transaction.
        flush_seconds: longest time a recorded row waits in the queue.
        queue_size: most rows queued; beyond it, rows are dropped and counted.
        put_timeout: longest time :meth:`add` waits for room in a full queue.
        busy_timeout: seconds SQLite waits for another writer's lock.

    Raises:
        ConfigError: the URL is malformed or names an in-memory SQLite database.
        MissingDependencyError: the database driver is not installed.
        StoreError: the database cannot be opened, or its schema is newer than this version
            of mlflow-monitor understands.
    """

    def __init__(
        self,
        uri: str,
        model_name: str = "default",
        model_version: str = "0",
        *,
        batch_size: int = 500,
        flush_seconds: float = 1.0,
        queue_size: int = 100_000,
        put_timeout: float = 0.05,
        busy_timeout: float = 10.0,
    ) -> None:
        self.model_name = model_name
        self.model_version = model_version
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.queue_size = queue_size
        self.put_timeout = put_timeout
        self.engine = _create_engine(uri, busy_timeout)
        self.uri = self.engine.url.render_as_string(hide_password=True)
        try:
            _ensure_schema(self.engine)
            self._stream = _stream_id(self.engine, model_name, model_version)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise StoreError(f"cannot open the inference store at {self.uri!r}: {exc}") from exc
        self._insert_predictions = _bulk_insert(self.engine, predictions, _PREDICTION_COLUMNS)
        self._insert_feedback = _bulk_insert(self.engine, feedback, _FEEDBACK_COLUMNS)
        self.dropped = 0
        self.rejected = 0
        self._reset_writer()
        _track(self)

    def _reset_writer(self) -> None:
        """Fresh queue and writer state (also in a forked child, which must not inherit it)."""
        self._cond = threading.Condition()
        self._queue: deque[PredictionBatch] = deque()
        self._queued = 0  # rows in the queue
        self._enqueued = 0  # rows ever accepted
        self._done = 0  # rows written, rejected or dropped by the writer
        self._flush_target = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._last_warning = float("-inf")

    def __repr__(self) -> str:
        return (
            f"SqlInferenceStore({self.uri!r}, model_name={self.model_name!r}, "
            f"model_version={self.model_version!r})"
        )

    def __enter__(self) -> SqlInferenceStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------

    def add(self, batch: PredictionBatch) -> None:
        """Queue a batch for the writer and return; never raises, never touches the database.

        Rows that find no room in the queue within ``put_timeout`` seconds (or arrive after
        :meth:`close`) are dropped and counted in ``dropped``. Ids already in the database
        are rejected by the writer and counted in ``rejected``.
        """
        n = len(batch)
        if n == 0:
            return
        with self._cond:
            if self._thread is None and not self._closed:
                self._start_writer()
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

    def _start_writer(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"mlflow-monitor-writer-{self.model_name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
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
            except Exception:  # the writer must survive anything; the rows are lost then
                logger.exception("writing %d predictions to %s failed", rows, self.uri)
                with self._cond:
                    self.dropped += rows
            with self._cond:
                self._done += rows
                self._cond.notify_all()

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

    def _write(self, chunk: list[PredictionBatch]) -> None:
        """Insert a chunk in one transaction, retrying transient errors; then count losses."""
        rows, labels = self._rows(chunk)
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                try:
                    with self.engine.begin() as conn:
                        self._insert(conn, rows, labels)
                except IntegrityError:
                    self._write_new_only(rows, labels)
                return
            except SQLAlchemyError as exc:
                if attempt == _WRITE_ATTEMPTS:
                    logger.error(
                        "giving up on %d predictions after %d attempts: %s", len(rows), attempt, exc
                    )
                    with self._cond:
                        self.dropped += len(rows)
                    return
                time.sleep(0.2 * attempt)

    def _insert(self, conn: Connection, rows: list[_Row], labels: list[str | None]) -> None:
        """Insert prediction rows, and feedback rows for those that come with a label."""
        if rows:
            self._insert_predictions(conn, rows)
        label_rows = [
            (row[_STREAM], row[_ID_COLUMN], label, row[_TIMESTAMP])
            for row, label in zip(rows, labels, strict=True)
            if label is not None
        ]
        if label_rows:
            self._insert_feedback(conn, label_rows)

    def _write_new_only(self, rows: list[_Row], labels: list[str | None]) -> None:
        """Insert the rows whose ids are new (first of repeats), counting the rest rejected."""
        with self.engine.connect() as conn:
            taken = set(self._existing_ids(conn, [row[_ID_COLUMN] for row in rows]))
        fresh: list[_Row] = []
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

    def _rows(self, chunk: list[PredictionBatch]) -> tuple[list[_Row], list[str | None]]:
        """Parameter rows of the predictions, and the encoded true label (or None) of each."""
        stream = self._stream
        rows: list[_Row] = []
        labels: list[str | None] = []
        for batch in chunk:
            ts = batch.timestamp
            blobs: Iterable[bytes | None] = repeat(None)
            raws: Iterable[str | None] = repeat(None)
            if isinstance(batch.features, np.ndarray):
                blobs = _blobs(batch.features)
            elif batch.features is not None:
                raws = [self._raw_json(v) for v in batch.features]
            rows.extend(
                (stream, pid, ts, _encode_label(pred), prob, blob, raw)
                # blobs and raws may be endless repeats of None
                for pid, pred, prob, blob, raw in zip(
                    batch.prediction_ids,
                    batch.predictions,
                    batch.probabilities,
                    blobs,
                    raws,
                    strict=False,
                )
            )
            if batch.true_labels is None:
                labels.extend(repeat(None, len(batch)))
            else:
                labels.extend(None if t is None else _encode_label(t) for t in batch.true_labels)
        return rows, labels

    def _raw_json(self, value: Any) -> str:
        try:
            return json.dumps(value, default=_json_default, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            self._warn("raw features stored as text, they are not JSON-serialisable: %s", exc)
            return json.dumps(str(value))

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

    def close(self, timeout: float | None = None) -> None:
        """Write everything queued, stop the writer and release the connections.

        Runs by itself when the interpreter exits normally. Later :meth:`add` calls drop
        their rows; reads keep working.
        """
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.engine.dispose()
        _OPEN_STORES.discard(self)

    def _sync(self) -> None:
        """Make this process's queued rows visible to the read that follows."""
        if not self.flush(_READ_FLUSH_TIMEOUT):
            logger.warning("reading %s before queued predictions were written", self.uri)

    # -- reading and labelling -----------------------------------------------------------

    def label(self, prediction_id: str, true_label: Label) -> PredictionRecord:
        """Attach the true label to a prediction recorded by any process.

        Returns:
            The labelled record.

        Raises:
            UnknownPredictionError: no prediction with that id was recorded for this stream.
            FeedbackError: the prediction already has a label (labels are not overwritten).
        """
        self._sync()
        p = predictions.c
        query = sa.select(p.timestamp, p.prediction, p.probability).where(
            p.stream_id == self._stream, p.prediction_id == prediction_id
        )
        try:
            with self.engine.begin() as conn:
                row = conn.execute(query).first()
                if row is None:
                    raise UnknownPredictionError(
                        f"unknown prediction_id {prediction_id!r}: never recorded for model "
                        f"{self.model_name!r} version {self.model_version!r}"
                    )
                conn.execute(
                    feedback.insert().values(
                        stream_id=self._stream,
                        prediction_id=prediction_id,
                        true_label=_encode_label(true_label),
                        timestamp=time.time(),
                    )
                )
        except IntegrityError as exc:
            f = feedback.c
            with self.engine.connect() as conn:
                existing = conn.execute(
                    sa.select(f.true_label).where(
                        f.stream_id == self._stream, f.prediction_id == prediction_id
                    )
                ).scalar_one()
            raise FeedbackError(
                f"prediction_id {prediction_id!r} already has true_label "
                f"{_decode(existing)!r}; labels are not overwritten"
            ) from exc
        return PredictionRecord(
            prediction_id, row.timestamp, _decode(row.prediction), row.probability, true_label
        )

    def labelled_window(self, n: int) -> list[tuple[Label, Label]]:
        """The ``n`` most recently labelled ``(prediction, true_label)`` pairs, oldest first."""
        self._sync()
        p, f = predictions.c, feedback.c
        query = (
            sa.select(p.prediction, f.true_label)
            .select_from(
                feedback.join(
                    predictions,
                    sa.and_(p.stream_id == f.stream_id, p.prediction_id == f.prediction_id),
                )
            )
            .where(f.stream_id == self._stream)
            .order_by(f.seq.desc())
            .limit(n)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [(_decode(pred), _decode(label)) for pred, label in reversed(rows)]

    def take_features(self, min_rows: int, max_rows: int) -> list[Any] | None:
        """Consume the drift rows recorded since the last call (by any process), oldest first.

        The read and the cursor move are a compare-and-set on the stream's cursor, so two
        processes checking at once never get the same row. The cursor assumes rows become
        visible in sequence order, which SQLite's single writer guarantees; on PostgreSQL a
        writer whose transaction commits after a check has passed its (lower) sequence
        numbers would have those rows skipped, never counted twice.

        Returns:
            The most recent ``max_rows`` rows, or None (nothing consumed) while fewer than
            ``min_rows`` wait.
        """
        self._sync()
        p, s = predictions.c, streams.c
        while True:
            with self.engine.connect() as conn:
                cursor = conn.execute(
                    sa.select(s.drift_cursor).where(s.stream_id == self._stream)
                ).scalar_one()
                rows = conn.execute(
                    sa.select(p.seq, p.features, p.raw_features)
                    .where(p.stream_id == self._stream, p.seq > cursor, _has_features())
                    .order_by(p.seq.desc())
                    .limit(max_rows)
                ).all()
            if len(rows) < min_rows:
                return None
            with self.engine.begin() as conn:
                moved = conn.execute(
                    sa.update(streams)
                    .where(s.stream_id == self._stream, s.drift_cursor == cursor)
                    .values(drift_cursor=rows[0].seq)
                ).rowcount
            if moved == 1:
                return [_decode_features(r.features, r.raw_features) for r in reversed(rows)]
            # Another process took rows since our read: read again from its cursor.

    def pending_features(self) -> int:
        """Drift rows recorded since the last :meth:`take_features` (not capped)."""
        self._sync()
        p, s = predictions.c, streams.c
        cursor = sa.select(s.drift_cursor).where(s.stream_id == self._stream).scalar_subquery()
        query = (
            sa.select(sa.func.count())
            .select_from(predictions)
            .where(p.stream_id == self._stream, p.seq > cursor, _has_features())
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def counts(self) -> StoreCounts:
        """Predictions and labels in the database for this stream, and this process's losses."""
        self._sync()
        with self.engine.connect() as conn:
            n_predictions = conn.execute(_count(predictions, self._stream)).scalar_one()
            n_labels = conn.execute(_count(feedback, self._stream)).scalar_one()
        with self._cond:
            return StoreCounts(
                int(n_predictions), int(n_labels), self._queued, self.dropped, self.rejected
            )

    def prune(self, older_than: datetime | float) -> int:
        """Delete this stream's predictions (and their labels) recorded before a time.

        Args:
            older_than: a datetime, or seconds since the epoch.

        Returns:
            How many predictions were deleted.
        """
        cutoff = older_than.timestamp() if isinstance(older_than, datetime) else float(older_than)
        self._sync()
        p, f = predictions.c, feedback.c
        old = sa.select(p.prediction_id).where(p.stream_id == self._stream, p.timestamp < cutoff)
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(feedback).where(f.stream_id == self._stream, f.prediction_id.in_(old))
            )
            deleted = conn.execute(
                sa.delete(predictions).where(p.stream_id == self._stream, p.timestamp < cutoff)
            ).rowcount
        return int(deleted)


# -- encoding ------------------------------------------------------------------------------


def _encode_label(value: Label) -> str:
    return str(value) if type(value) is int else json.dumps(value)


def _decode(text: str) -> Any:
    return json.loads(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _blobs(matrix: np.ndarray[Any, Any]) -> list[bytes]:
    """One little-endian float64 byte string per row."""
    data = np.ascontiguousarray(matrix, dtype="<f8")
    width = data.shape[1] * 8 if data.ndim == 2 else 8
    buffer = data.tobytes()
    return [buffer[i : i + width] for i in range(0, len(buffer), width)]


def _decode_features(blob: bytes | None, raw: str | None) -> Any:
    if blob is not None:
        return np.frombuffer(blob, dtype="<f8").astype(np.float64)
    return None if raw is None else json.loads(raw)


def _has_features() -> sa.ColumnElement[bool]:
    p = predictions.c
    return sa.or_(p.features.is_not(None), p.raw_features.is_not(None))


def _count(table: sa.Table, stream: int) -> sa.Select[int]:
    return sa.select(sa.func.count()).select_from(table).where(table.c.stream_id == stream)


def _bulk_insert(
    engine: Engine, table: sa.Table, columns: tuple[str, ...]
) -> Callable[[Connection, list[_Row]], None]:
    """An executemany INSERT of tuple rows in ``columns`` order, compiled once for the
    engine's dialect. Going past SQLAlchemy's per-row parameter processing halves the
    writer's CPU time, which it shares with the serving threads of its process."""
    compiled = table.insert().values({c: sa.bindparam(c) for c in columns}).compile(engine)
    sql = str(compiled)
    named = not compiled.positional  # e.g. psycopg's %(name)s: rows become dicts
    order = [columns.index(name) for name in compiled.positiontup or ()]
    in_order = order == list(range(len(columns)))

    def insert(conn: Connection, rows: list[_Row]) -> None:
        params: list[Any]
        if named:
            params = [dict(zip(columns, row, strict=True)) for row in rows]
        elif in_order:
            params = rows
        else:
            params = [tuple(row[i] for i in order) for row in rows]
        conn.exec_driver_sql(sql, params)

    return insert


# -- engine and schema ---------------------------------------------------------------------


def _create_engine(uri: str, busy_timeout: float) -> Engine:
    try:
        url = sa.make_url(uri)
    except ArgumentError as exc:
        raise ConfigError(
            f"store_uri must be a SQLAlchemy URL like 'sqlite:///monitoring.db', got {uri!r}"
        ) from exc
    sqlite = url.get_backend_name() == "sqlite"
    if sqlite:
        if url.database in (None, "", ":memory:"):
            raise ConfigError(
                f"store_uri {uri!r} is an in-memory SQLite database, which other processes "
                "cannot see; give a file path, or no store_uri for a process-local store"
            )
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = sa.create_engine(url)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise MissingDependencyError(
            f"no database driver for {url.drivername!r}: {exc}; for PostgreSQL install "
            "'psycopg[binary]' and use a postgresql+psycopg:// URL"
        ) from exc
    if sqlite:
        sa.event.listen(engine, "connect", _sqlite_pragmas(int(busy_timeout * 1000)))
    return engine


def _sqlite_pragmas(busy_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # busy_timeout first: switching to WAL itself may wait for another process's lock.
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        # WAL: readers never block the writer; NORMAL sync is safe with WAL (a power cut may
        # lose the last transactions, never corrupt the file).
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


def _stored_version(engine: Engine) -> int | None:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(schema_version.name):
            return None
        version = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
    return None if version is None else int(version)


def _ensure_schema(engine: Engine) -> None:
    """Create the tables on first use, upgrade an older schema, refuse a newer one."""
    version = _create_schema(engine)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the inference store has schema version {version}; this mlflow-monitor "
            f"understands versions up to {SCHEMA_VERSION}: upgrade mlflow-monitor"
        )
    while version < SCHEMA_VERSION:
        with engine.begin() as conn:
            MIGRATIONS[version](conn)
            version += 1
            conn.execute(schema_version.insert().values(version=version, applied_at=time.time()))


def _create_schema(engine: Engine) -> int:
    """The stored schema version, after creating the schema if there was none."""
    attempts = 0
    while True:
        try:
            version = _stored_version(engine)
            if version is not None:
                return version
            metadata.create_all(engine)
            with engine.begin() as conn:
                conn.execute(
                    schema_version.insert().values(version=SCHEMA_VERSION, applied_at=time.time())
                )
            return SCHEMA_VERSION
        except (IntegrityError, sa.exc.OperationalError, sa.exc.ProgrammingError):
            # Another process may have been creating the schema at the same moment: look again.
            attempts += 1
            if attempts == 3:
                raise


def _stream_id(engine: Engine, model_name: str, model_version: str) -> int:
    s = streams.c
    query = sa.select(s.stream_id).where(
        s.model_name == model_name, s.model_version == model_version
    )
    while True:
        with engine.connect() as conn:
            found = conn.execute(query).scalar()
        if found is not None:
            return int(found)
        try:
            with engine.begin() as conn:
                conn.execute(
                    streams.insert().values(
                        model_name=model_name, model_version=model_version, drift_cursor=0
                    )
                )
        except IntegrityError:
            pass  # another process registered the stream first


# -- process lifecycle ---------------------------------------------------------------------

_OPEN_STORES: weakref.WeakSet[SqlInferenceStore] = weakref.WeakSet()
_hooks_installed = False
_hooks_lock = threading.Lock()


def _track(store: SqlInferenceStore) -> None:
    global _hooks_installed  # noqa: PLW0603 - installed once per process, on first use
    with _hooks_lock:
        if not _hooks_installed:
            atexit.register(_close_open_stores)
            os.register_at_fork(after_in_child=_forget_parent_writers)
            _hooks_installed = True
        _OPEN_STORES.add(store)


def _close_open_stores() -> None:
    """At interpreter exit: write what every open store still has queued."""
    for store in list(_OPEN_STORES):
        try:
            store.close()
        except Exception:
            logger.exception("closing %r at exit failed", store)


def _forget_parent_writers() -> None:
    """In a forked child: the parent's writer thread and queue are not ours (the parent
    writes its queued rows); pooled connections must not be shared across processes."""
    for store in list(_OPEN_STORES):
        store._reset_writer()
        store.dropped = store.rejected = 0
        store.engine.dispose(close=False)
