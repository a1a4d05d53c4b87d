"""SqlInferenceStore: the inference store in a database shared by processes and hosts.

The serving processes record predictions here and the ``check`` command (or any other process)
reads them, so feedback received anywhere counts and drift rows are tested exactly once. It is
written with SQLAlchemy Core on portable types: a SQLite file by default, PostgreSQL when several
hosts serve.

The predict path never waits on the database: :meth:`SqlInferenceStore.add` hands the batch to
the store's :class:`~mlflow_monitor.store.sql.writer.BatchWriter`, which queues it (bounded) and
returns; a daemon thread writes the queue in batches. While the database is unreachable the
rows stay queued and are written when it is back; what finds no room in the queue is dropped
and counted (``counts().dropped``). Reads during an outage raise :class:`StoreError`. Queued
rows are written on :meth:`~SqlInferenceStore.close`, which also runs when the interpreter exits
normally; a killed process loses what was still queued (at most ``flush_seconds`` worth of
traffic, usually).

Several processes and hosts may share one database: drift rows are consumed exactly once
whichever process checks (see :meth:`SqlInferenceStore.take_features`), and
:meth:`SqlInferenceStore.leadership` elects the one process that runs the periodic checks (a
lease row on SQLite, an advisory lock on PostgreSQL; see
:mod:`mlflow_monitor.store.sql.leadership`).

The tables, how values are stored in them, schema versions and engine setup are in
:mod:`mlflow_monitor.store.sql.schema`; the write queue and its thread in
:mod:`mlflow_monitor.store.sql.writer`.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from mlflow_monitor._types import Label
from mlflow_monitor.exceptions import FeedbackError, UnknownPredictionError
from mlflow_monitor.store.interface import (
    InferenceStore,
    PredictionBatch,
    PredictionRecord,
    StoreCounts,
    StoreError,
)
from mlflow_monitor.store.leadership import Leadership
from mlflow_monitor.store.sql.file_watch import SqliteFile
from mlflow_monitor.store.sql.leadership import AdvisoryLockLeadership, LeaseLeadership
from mlflow_monitor.store.sql.schema import (
    SCHEMA_VERSION,
    checks,
    decode_features,
    decode_label,
    decode_vector,
    encode_label,
    encode_raw_features,
    ensure_schema,
    feedback,
    find_stream,
    is_postgresql,
    open_engine,
    predictions,
    register_stream,
    schema_version,
    stream_lock_key,
    streams,
    triggers,
)
from mlflow_monitor.store.sql.writer import BatchWriter, first_line

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# SCHEMA_VERSION and schema_version are defined in sql_schema and stay importable from here.
__all__ = ["SCHEMA_VERSION", "SqlInferenceStore", "schema_version"]

logger = logging.getLogger(__name__)

_READ_FLUSH_TIMEOUT = 60.0
# The stream id a read-only store reads when nothing was recorded for its model version.
_NO_STREAM = -1
PRUNE_CHUNK = 2000
"""Most predictions :meth:`SqlInferenceStore.prune` deletes per transaction."""
# How long close() keeps trying to write what is queued to an unreachable database.
CLOSE_DRAIN_SECONDS = 10.0


_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")


def _unavailable_is_store_error(method: _F) -> _F:
    """Raise a database error from a read as :class:`StoreError` (the serve app: 503)."""

    @functools.wraps(method)
    def wrapper(self: SqlInferenceStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"the inference store at {self.uri!r} is unavailable: {first_line(exc)}"
            ) from exc

    return cast(_F, wrapper)


def _writes(method: _F) -> _F:
    """Refuse ``method`` on a store opened read-only (it would write to the database)."""

    @functools.wraps(method)
    def wrapper(self: SqlInferenceStore, *args: Any, **kwargs: Any) -> Any:
        if self.read_only:
            raise StoreError(f"the inference store {self.uri!r} was opened read-only")
        return method(self, *args, **kwargs)

    return cast(_F, wrapper)


class _OnWriter(Generic[_T]):
    """An attribute of the store kept by its writer (a setting or a count), read and set
    through the store."""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, store: None, owner: type[Any]) -> _OnWriter[_T]: ...
    @overload
    def __get__(self, store: SqlInferenceStore, owner: type[Any]) -> _T: ...
    def __get__(self, store: SqlInferenceStore | None, owner: type[Any]) -> _OnWriter[_T] | _T:
        if store is None:
            return self
        return cast(_T, getattr(store._writer, self._name))

    def __set__(self, store: SqlInferenceStore, value: _T) -> None:
        setattr(store._writer, self._name, value)


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
        read_only: only read the stream (as ``mlflow-monitor status`` does): the database
            must exist already, nothing is created, upgraded or written (a SQLite file is
            opened in read-only mode), and a stream nothing was recorded for reads as empty.

    Attributes:
        dropped: predictions this process lost (queue full, store closed, database failed).
        rejected: predictions this process recorded with an id already in the database.
        unavailable_since: monotonic time the writer found the database unreachable; None
            while it answers.

    Raises:
        ConfigError: the URL is malformed or names an in-memory SQLite database.
        MissingDependencyError: the database driver is not installed.
        StoreError: the database cannot be opened, or its schema is newer than this version
            of mlflow-monitor understands.
    """

    # Kept by the writer (mlflow_monitor.store.sql.writer), read and set here as well.
    batch_size = _OnWriter[int]()
    flush_seconds = _OnWriter[float]()
    queue_size = _OnWriter[int]()
    put_timeout = _OnWriter[float]()
    dropped = _OnWriter[int]()
    rejected = _OnWriter[int]()
    queued = _OnWriter[int]()
    unavailable_since = _OnWriter[float | None]()

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
        read_only: bool = False,
    ) -> None:
        self.model_name = model_name
        self.model_version = model_version
        self.read_only = read_only
        self.engine = open_engine(uri, busy_timeout, read_only=read_only)
        self.uri = self.engine.url.render_as_string(hide_password=True)
        try:
            if read_only:
                found = find_stream(self.engine, model_name, model_version)
                self._stream = _NO_STREAM if found is None else found
            else:
                ensure_schema(self.engine)
                self._stream = register_stream(self.engine, model_name, model_version)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise StoreError(f"cannot open the inference store at {self.uri!r}: {exc}") from exc
        except BaseException:
            self.engine.dispose()
            raise
        self._writer = BatchWriter(
            self.engine,
            self._stream,
            self,
            thread_name=f"mlflow-monitor-writer-{model_name}",
            batch_size=batch_size,
            flush_seconds=flush_seconds,
            queue_size=queue_size,
            put_timeout=put_timeout,
        )
        self._file = SqliteFile.of(self.engine)
        self._writer.check_file = None if self._file is None else self._file.problem
        self._postgresql = is_postgresql(self.engine)
        # A read-only store may read a database of an older schema, whose predictions have
        # no class_probabilities column yet (their vectors read as None).
        self._has_vectors = not read_only or _has_vector_column(self.engine)
        self._cursor_lock = stream_lock_key(self._stream)
        self._leaderships: list[Leadership] = []
        _track(self)

    @property
    def file_problem(self) -> str | None:
        """Why the SQLite file this store opened is gone from its path (deleted, replaced),
        or None while it is there (always None on PostgreSQL). While it is gone the writer
        drops, and counts, what it would have written into the lost file."""
        return None if self._file is None else self._file.problem()

    def __repr__(self) -> str:
        return (
            f"SqlInferenceStore({self.uri!r}, model_name={self.model_name!r}, "
            f"model_version={self.model_version!r})"
        )

    def __enter__(self) -> SqlInferenceStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing (done by the writer) -----------------------------------------------------

    def add(self, batch: PredictionBatch) -> None:
        """Queue a batch for the writer and return; never raises, never touches the database.

        Rows that find no room in the queue within ``put_timeout`` seconds (or arrive after
        :meth:`close`) are dropped and counted in ``dropped``. Ids already in the database
        are rejected by the writer and counted in ``rejected``.

        Raises:
            StoreError: the store was opened ``read_only``.
        """
        if self.read_only:
            raise StoreError(f"the inference store {self.uri!r} was opened read-only")
        self._writer.add(batch)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row queued so far is written (or rejected or dropped).

        Args:
            timeout: seconds to wait at most; None waits as long as it takes.

        Returns:
            True when everything queued before the call was handled, False on timeout.
        """
        return self._writer.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Write everything queued, stop the writer and release the connections.

        Runs by itself when the interpreter exits normally. Later :meth:`add` calls drop
        their rows; reads keep working. Leaderships this store handed out are released.

        Args:
            timeout: seconds to keep trying an unreachable database before what is still
                queued is dropped (and counted); :data:`CLOSE_DRAIN_SECONDS` by default.
        """
        self._writer.close(CLOSE_DRAIN_SECONDS if timeout is None else timeout)
        leaderships, self._leaderships = self._leaderships, []
        for leadership in leaderships:
            if isinstance(leadership, AdvisoryLockLeadership):
                leadership.close()
            else:
                leadership.release()
        self.engine.dispose()
        _OPEN_STORES.discard(self)

    def _sync(self) -> None:
        """Make this process's queued rows visible to the read that follows."""
        if self.unavailable_since is not None:
            return  # the read fails or sees the database as it is; waiting would not help
        if not self.flush(_READ_FLUSH_TIMEOUT):
            logger.warning("reading %s before queued predictions were written", self.uri)

    # -- reading and labelling -----------------------------------------------------------

    @_writes
    @_unavailable_is_store_error
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
        query = sa.select(p.timestamp, p.prediction, p.probability, p.class_probabilities).where(
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
                        true_label=encode_label(true_label),
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
                f"{decode_label(existing)!r}; labels are not overwritten"
            ) from exc
        vector = decode_vector(row.class_probabilities)
        return PredictionRecord(
            prediction_id,
            row.timestamp,
            decode_label(row.prediction),
            row.probability,
            true_label,
            None if vector is None else vector.tolist(),
        )

    @_unavailable_is_store_error
    def recent_predictions(self, n: int) -> list[tuple[Label, float | None]]:
        """The ``n`` most recently recorded ``(prediction, probability)`` pairs, oldest first
        (recorded by any process of the stream)."""
        self._sync()
        p = predictions.c
        query = (
            sa.select(p.prediction, p.probability)
            .where(p.stream_id == self._stream)
            .order_by(p.seq.desc())
            .limit(n)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [(decode_label(row.prediction), row.probability) for row in reversed(rows)]

    @_unavailable_is_store_error
    def recent_outputs(
        self, n: int
    ) -> list[tuple[Label, float | None, npt.NDArray[np.float64] | None]]:
        """The ``n`` most recently recorded ``(prediction, probability, class_probabilities)``
        triples, oldest first (recorded by any process of the stream)."""
        if not self._has_vectors:
            return super().recent_outputs(n)
        self._sync()
        p = predictions.c
        query = (
            sa.select(p.prediction, p.probability, p.class_probabilities)
            .where(p.stream_id == self._stream)
            .order_by(p.seq.desc())
            .limit(n)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            (decode_label(row.prediction), row.probability, decode_vector(row.class_probabilities))
            for row in reversed(rows)
        ]

    @_unavailable_is_store_error
    def labelled_among_recent(self, n: int) -> int:
        """How many of the ``n`` most recently recorded predictions have a label (from any
        process of the stream)."""
        self._sync()
        p, f = predictions.c, feedback.c
        recent = (
            sa.select(p.prediction_id)
            .where(p.stream_id == self._stream)
            .order_by(p.seq.desc())
            .limit(n)
            .subquery()
        )
        query = (
            sa.select(sa.func.count())
            .select_from(recent)
            .join(
                feedback,
                sa.and_(f.stream_id == self._stream, f.prediction_id == recent.c.prediction_id),
            )
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    @_unavailable_is_store_error
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
        return [(decode_label(pred), decode_label(label)) for pred, label in reversed(rows)]

    @_writes
    @_unavailable_is_store_error
    def take_features(self, min_rows: int, max_rows: int) -> list[Any] | None:
        """Consume the drift rows recorded since the last call (by any process), oldest first.

        The read and the cursor move are a compare-and-set on the stream's cursor, so two
        processes checking at once never get the same row. The cursor needs every row below
        it to be visible when it moves. SQLite's single writer makes rows visible in sequence
        order. PostgreSQL hands out sequence numbers at insert time, so a writer that commits
        late would leave rows below the cursor. There, writer transactions hold the stream's
        advisory lock in shared mode; this method takes it exclusively, which waits for the
        writers in flight, and reads the highest sequence number written. Every row up to
        that number has committed and every later row gets a higher one, so only rows up to
        it are taken.

        Returns:
            The most recent ``max_rows`` rows, or None (nothing consumed) while fewer than
            ``min_rows`` wait.
        """
        self._sync()
        p, s = predictions.c, streams.c
        written = self._written_horizon()
        while True:
            with self.engine.connect() as conn:
                cursor = conn.execute(
                    sa.select(s.drift_cursor).where(s.stream_id == self._stream)
                ).scalar_one()
                rows = conn.execute(
                    sa.select(p.seq, p.features, p.raw_features)
                    .where(p.stream_id == self._stream, p.seq > cursor, _has_features())
                    .where(sa.true() if written is None else p.seq <= written)
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
                return [decode_features(r.features, r.raw_features) for r in reversed(rows)]
            # Another process took rows since our read: read again from its cursor.

    def _written_horizon(self) -> int | None:
        """On PostgreSQL, the highest sequence number of this stream that has committed, with
        no insert of a lower one still in flight (0 if none); None on SQLite (no bound)."""
        if not self._postgresql:
            return None
        with self.engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(*self._cursor_lock)))
            top = conn.execute(
                sa.select(sa.func.max(predictions.c.seq)).where(
                    predictions.c.stream_id == self._stream
                )
            ).scalar()
        return 0 if top is None else int(top)

    @_unavailable_is_store_error
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

    @_unavailable_is_store_error
    def counts(self) -> StoreCounts:
        """Predictions and labels in the database for this stream, and this process's losses."""
        self._sync()
        with self.engine.connect() as conn:
            n_predictions = conn.execute(_count(predictions, self._stream)).scalar_one()
            n_labels = conn.execute(_count(feedback, self._stream)).scalar_one()
        queued, dropped, rejected = self._writer.counts()
        return StoreCounts(int(n_predictions), int(n_labels), queued, dropped, rejected)

    @_writes
    def leadership(self, name: str, ttl: float = 60.0) -> Leadership:
        """Leadership of ``name`` among the processes sharing this database.

        On PostgreSQL a session advisory lock, freed by the server when the holder's
        connection ends (``ttl`` is not needed); elsewhere a lease in ``monitor_leases`` that
        another process takes over ``ttl`` seconds after its holder last renewed it.
        :meth:`close` releases what this store handed out.
        """
        leadership: Leadership
        if self._postgresql:
            leadership = AdvisoryLockLeadership(self.engine.url, name)
        else:
            leadership = LeaseLeadership(self.engine, name, ttl)
        self._leaderships.append(leadership)
        return leadership

    # -- check results and triggers, shared by the processes --------------------------

    @_writes
    def record_check(self, result: Mapping[str, Any]) -> None:
        """Keep a check that ran, so every process's status shows it.

        Raises:
            StoreError: the database is unavailable.
        """
        row = {
            "stream_id": self._stream,
            "kind": str(result["kind"]),
            "status": str(result["status"]),
            "timestamp": time.time(),
            "result": encode_raw_features(dict(result)),
        }
        self._execute(checks.insert().values(row), "keep a check result")

    def last_checks(self) -> dict[str, dict[str, Any]]:
        """The most recent kept check of each kind, whichever process ran it."""
        c = checks.c
        latest = (
            sa.select(sa.func.max(c.seq))
            .where(c.stream_id == self._stream)
            .group_by(c.kind)
            .scalar_subquery()
        )
        query = sa.select(c.kind, c.result).where(c.seq.in_(latest))
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the last checks from {self.uri!r}: {exc}") from exc
        return {str(kind): json.loads(text) for kind, text in rows}

    def check_history(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest ``limit`` kept checks of the stream, whichever process ran them,
        oldest first."""
        c = checks.c
        query = (
            sa.select(c.result)
            .where(c.stream_id == self._stream)
            .order_by(c.seq.desc())
            .limit(max(limit, 0))
        )
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).scalars().all()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the check history from {self.uri!r}: {exc}") from exc
        return [json.loads(text) for text in reversed(rows)]

    @_writes
    def record_trigger(self, event: Mapping[str, Any]) -> None:
        """Keep a fired retraining trigger, whichever process fired it.

        Raises:
            StoreError: the database is unavailable.
        """
        row = {
            "stream_id": self._stream,
            "reason": str(event["reason"])[:255],
            "timestamp": time.time(),
            "event": encode_raw_features(dict(event)),
        }
        self._execute(triggers.insert().values(row), "keep a retraining trigger")

    def trigger_history(self, limit: int = 100) -> tuple[int, list[dict[str, Any]]]:
        """How many triggers this stream kept, and the latest ``limit``, oldest first."""
        t = triggers.c
        try:
            with self.engine.connect() as conn:
                total = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(triggers)
                    .where(t.stream_id == self._stream)
                ).scalar_one()
                rows = conn.execute(
                    sa.select(t.event)
                    .where(t.stream_id == self._stream)
                    .order_by(t.seq.desc())
                    .limit(max(limit, 0))
                ).all()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the triggers from {self.uri!r}: {exc}") from exc
        return int(total), [json.loads(text) for (text,) in reversed(rows)]

    @_writes
    def update_trigger(self, event: Mapping[str, Any]) -> None:
        """Replace the kept trigger that launched ``event["retrain_run_id"]``, whichever
        process fired it (its retraining run ended: ``retrain_status`` is final).

        Raises:
            StoreError: the database is unavailable.
        """
        run_id = event.get("retrain_run_id")
        if not run_id:
            return
        t = triggers.c
        # Events are stored as compact JSON (encode_raw_features), so the run id appears as
        # "retrain_run_id":"<id>" in exactly the row of the trigger that launched it.
        marker = encode_raw_features({"retrain_run_id": str(run_id)})[1:-1]
        statement = (
            sa.update(triggers)
            .where(t.stream_id == self._stream, t.event.contains(marker, autoescape=True))
            .values(event=encode_raw_features(dict(event)))
        )
        self._execute(statement, "update a retraining trigger")

    def _execute(self, statement: sa.Executable, what: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(statement)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot {what} in {self.uri!r}: {exc}") from exc

    @_writes
    @_unavailable_is_store_error
    def prune(self, older_than: datetime | float, chunk: int = PRUNE_CHUNK) -> int:
        """Delete this stream's predictions (and their labels) recorded before a time.

        Rows go in transactions of at most ``chunk`` predictions, oldest first, so that the
        writers (whose SQLite writes wait for the lock) are never held up for long.

        Args:
            older_than: a datetime, or seconds since the epoch.
            chunk: most predictions deleted per transaction.

        Returns:
            How many predictions were deleted.
        """
        cutoff = older_than.timestamp() if isinstance(older_than, datetime) else float(older_than)
        self._sync()
        p, f = predictions.c, feedback.c
        deleted = 0
        while True:
            with self.engine.begin() as conn:
                # Oldest first along the (stream, seq) index, up to the first row that is
                # recent enough: cheap however large the table. A row recorded out of order
                # behind a newer one waits for the next prune.
                oldest = conn.execute(
                    sa.select(p.seq, p.prediction_id, p.timestamp)
                    .where(p.stream_id == self._stream)
                    .order_by(p.seq)
                    .limit(chunk)
                ).all()
                old = list(itertools.takewhile(lambda r: r[2] < cutoff, oldest))
                if not old:
                    return deleted
                conn.execute(
                    sa.delete(feedback).where(
                        f.stream_id == self._stream, f.prediction_id.in_([r[1] for r in old])
                    )
                )
                conn.execute(sa.delete(predictions).where(p.seq.in_([r[0] for r in old])))
            deleted += len(old)
            if len(old) < chunk:
                return deleted


# -- queries -------------------------------------------------------------------------------


def _has_vector_column(engine: sa.Engine) -> bool:
    """Whether the predictions table has the class_probabilities column (schema 4 on)."""
    try:
        with engine.connect() as conn:
            columns = sa.inspect(conn).get_columns(predictions.name)
    except SQLAlchemyError:
        return False
    return any(c["name"] == "class_probabilities" for c in columns)


def _has_features() -> sa.ColumnElement[bool]:
    p = predictions.c
    return sa.or_(p.features.is_not(None), p.raw_features.is_not(None))


def _count(table: sa.Table, stream: int) -> sa.Select[int]:
    return sa.select(sa.func.count()).select_from(table).where(table.c.stream_id == stream)


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
        store._writer.reset()
        store.engine.dispose(close=False)
