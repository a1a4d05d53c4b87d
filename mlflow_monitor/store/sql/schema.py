"""The inference store's database: tables, how values sit in them, versions, engine, inserts.

:class:`~mlflow_monitor.store.sql.store.SqlInferenceStore` reads and writes through what is defined
here; anything that changes what is on disk belongs in this module (and bumps
:data:`SCHEMA_VERSION`, with a migration). The schema uses SQLAlchemy Core on portable types,
so the same tables work on SQLite and PostgreSQL.

Tables (created on first use; ``monitor_schema_version`` holds the schema version):

- ``monitor_streams``: one row per (model name, model version), with the drift cursor: the
  sequence number of the last prediction a drift check consumed.
- ``monitor_predictions``: one row per prediction; labels are JSON (``1`` and ``"1"`` differ),
  numeric drift rows little-endian float64 bytes, raw drift rows (for detectors with a
  ``preprocess_fn``) JSON.
- ``monitor_feedback``: one row per labelled prediction; a unique constraint on the prediction
  makes "labels are not overwritten" hold across processes.
- ``monitor_leases`` (version 2): one row per leader lease
  (see :mod:`mlflow_monitor.store.sql.leadership`): its holder and when it expires.
  PostgreSQL uses advisory locks instead and leaves it empty.
- ``monitor_checks`` and ``monitor_triggers`` (version 3): every check result and every fired
  retraining trigger of a stream, as JSON, so each process's status shows the checks and
  triggers of whichever process ran them.
- ``monitor_predictions.class_probabilities`` (version 4): a multiclass prediction's
  probability of every class, little-endian float64 bytes in the order of the monitor's
  ``classes``; NULL for binary and regression predictions, and for rows written before.

On PostgreSQL, transaction-scoped advisory locks keyed by :func:`stream_lock_key` keep the drift
cursor exact (see :meth:`~mlflow_monitor.store.sql.store.SqlInferenceStore.take_features`), and one
keyed by :data:`SCHEMA_LOCK_KEY` makes creating and upgrading the schema one process's job.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError

from mlflow_monitor._types import Label
from mlflow_monitor.exceptions import ConfigError, MissingDependencyError, StoreError

__all__ = [
    "FEEDBACK_COLUMNS",
    "LIBPQ_TIMEOUTS",
    "LOCK_NAMESPACE",
    "MIGRATIONS",
    "PREDICTION_COLUMNS",
    "SCHEMA_LOCK_KEY",
    "SCHEMA_VERSION",
    "VECTOR_PREDICTION_COLUMNS",
    "Row",
    "bulk_insert",
    "checks",
    "decode_features",
    "decode_label",
    "decode_vector",
    "encode_label",
    "encode_raw_features",
    "ensure_schema",
    "feature_blobs",
    "feedback",
    "find_stream",
    "is_postgresql",
    "leases",
    "metadata",
    "open_engine",
    "predictions",
    "register_stream",
    "schema_version",
    "stream_lock_key",
    "streams",
    "triggers",
    "vector_blob",
]

SCHEMA_VERSION = 4

# libpq settings of PostgreSQL connections (unless the URL sets them): a vanished server or
# network shows as an error within seconds, instead of a connect or query that hangs for the
# TCP timeout while the writer retries or a lock is believed held.
LIBPQ_TIMEOUTS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 20_000,  # milliseconds
}

# PostgreSQL advisory locks of this package use the two-int key form, (LOCK_NAMESPACE, n), a
# key space apart from the single-bigint one. n is a stream id, or 0 for the schema.
LOCK_NAMESPACE = 0x6D6C6D6F  # "mlmo"
SCHEMA_LOCK_KEY = 0

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: a rowid alias
_NAME = sa.String(255)

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
    sa.Column("class_probabilities", sa.LargeBinary),  # version 4
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

leases = sa.Table(
    "monitor_leases",
    metadata,
    sa.Column("name", _NAME, primary_key=True),
    sa.Column("holder", _NAME, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),  # seconds since the epoch
)

checks = sa.Table(
    "monitor_checks",
    metadata,
    sa.Column("seq", _ID, primary_key=True, autoincrement=True),
    sa.Column("stream_id", _ID, sa.ForeignKey("monitor_streams.stream_id"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("timestamp", sa.Double, nullable=False),
    sa.Column("result", sa.Text, nullable=False),  # CheckResult.to_dict() as JSON
    sa.Index("ix_monitor_checks_stream_kind_seq", "stream_id", "kind", "seq"),
    sqlite_autoincrement=True,
)

triggers = sa.Table(
    "monitor_triggers",
    metadata,
    sa.Column("seq", _ID, primary_key=True, autoincrement=True),
    sa.Column("stream_id", _ID, sa.ForeignKey("monitor_streams.stream_id"), nullable=False),
    sa.Column("reason", sa.String(255), nullable=False),
    sa.Column("timestamp", sa.Double, nullable=False),
    sa.Column("event", sa.Text, nullable=False),  # TriggerEvent.to_dict() as JSON
    sa.Index("ix_monitor_triggers_stream_seq", "stream_id", "seq"),
    sqlite_autoincrement=True,
)

# Parameter rows are tuples in these column orders (see bulk_insert).
PREDICTION_COLUMNS = (
    "stream_id",
    "prediction_id",
    "timestamp",
    "prediction",
    "probability",
    "features",
    "raw_features",
)
# Rows of predictions that carry class probabilities: one more column. Rows without them
# (binary, regression) are inserted with PREDICTION_COLUMNS, one parameter fewer per row.
VECTOR_PREDICTION_COLUMNS = (*PREDICTION_COLUMNS, "class_probabilities")
FEEDBACK_COLUMNS = ("stream_id", "prediction_id", "true_label", "timestamp")
Row = tuple[Any, ...]


def _add_leases(conn: Connection) -> None:
    leases.create(conn, checkfirst=True)


def _add_check_and_trigger_history(conn: Connection) -> None:
    checks.create(conn, checkfirst=True)
    triggers.create(conn, checkfirst=True)


# Upgrades from version N to N + 1, run in the transaction that opens an older database. Add an
# entry (and bump SCHEMA_VERSION) with every schema change. On SQLite two processes may run the
# same upgrade at once (the loser's version row collides and it looks again), so an upgrade
# must be harmless to repeat.
def _add_class_probabilities(conn: Connection) -> None:
    # Nullable and without a default: on both SQLite and PostgreSQL adding it rewrites no
    # rows, however large the table, and older rows read as NULL (no vector).
    present = {c["name"] for c in sa.inspect(conn).get_columns(predictions.name)}
    if "class_probabilities" in present:  # a concurrent upgrade added it first
        return
    column = predictions.c.class_probabilities.type.compile(dialect=conn.dialect)
    table = conn.dialect.identifier_preparer.format_table(predictions)
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN class_probabilities {column}")


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _add_leases,
    2: _add_check_and_trigger_history,
    3: _add_class_probabilities,
}


# -- values in columns ---------------------------------------------------------------------


def encode_label(value: Label) -> str:
    """A prediction or true label as stored: JSON, so ``1`` and ``"1"`` stay apart."""
    return str(value) if type(value) is int else json.dumps(value)


def decode_label(text: str) -> Any:
    """The label :func:`encode_label` stored."""
    return json.loads(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is pd.NA or value is pd.NaT:  # missing values of pandas' nullable dtypes
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def encode_raw_features(value: Any) -> str:
    """A raw drift row as compact JSON (numpy values and dates included).

    Raises:
        TypeError, ValueError: the row holds something JSON cannot represent.
    """
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def feature_blobs(matrix: np.ndarray[Any, Any]) -> list[bytes]:
    """One little-endian float64 byte string per row."""
    data = np.ascontiguousarray(matrix, dtype="<f8")
    width = data.shape[1] * 8 if data.ndim == 2 else 8
    buffer = data.tobytes()
    return [buffer[i : i + width] for i in range(0, len(buffer), width)]


def vector_blob(vector: Any) -> bytes | None:
    """A vector of class probabilities as little-endian float64 bytes (None stays None)."""
    if vector is None:
        return None
    return np.ascontiguousarray(vector, dtype="<f8").tobytes()


def decode_vector(blob: bytes | None) -> np.ndarray[Any, Any] | None:
    """The class probabilities :func:`vector_blob` stored, or None."""
    if blob is None:
        return None
    return np.frombuffer(blob, dtype="<f8").astype(np.float64)


def decode_features(blob: bytes | None, raw: str | None) -> Any:
    """A drift row from its ``features`` (numeric) or ``raw_features`` (JSON) column."""
    if blob is not None:
        return np.frombuffer(blob, dtype="<f8").astype(np.float64)
    return None if raw is None else json.loads(raw)


def bulk_insert(
    engine: Engine, table: sa.Table, columns: tuple[str, ...]
) -> Callable[[Connection, list[Row]], None]:
    """An executemany INSERT of tuple rows in ``columns`` order, compiled once for the
    engine's dialect. Going past SQLAlchemy's per-row parameter processing halves the
    writer's CPU time, which it shares with the serving threads of its process. With
    psycopg (PostgreSQL) it is a ``COPY ... FROM STDIN`` instead: a sixth of executemany's
    client CPU per row, and twice the rows per second."""
    if engine.dialect.driver == "psycopg":
        return _copy_insert(engine, table, columns)
    return _executemany_insert(engine, table, columns)


def _executemany_insert(
    engine: Engine, table: sa.Table, columns: tuple[str, ...]
) -> Callable[[Connection, list[Row]], None]:
    compiled = table.insert().values({c: sa.bindparam(c) for c in columns}).compile(engine)
    sql = str(compiled)
    named = not compiled.positional  # e.g. psycopg's %(name)s: rows become dicts
    order = [columns.index(name) for name in compiled.positiontup or ()]
    in_order = order == list(range(len(columns)))

    def insert(conn: Connection, rows: list[Row]) -> None:
        params: list[Any]
        if named:
            params = [dict(zip(columns, row, strict=True)) for row in rows]
        elif in_order:
            params = rows
        else:
            params = [tuple(row[i] for i in order) for row in rows]
        conn.exec_driver_sql(sql, params)

    return insert


def _copy_insert(
    engine: Engine, table: sa.Table, columns: tuple[str, ...]
) -> Callable[[Connection, list[Row]], None]:
    """Rows through psycopg's COPY, in the connection's transaction; its errors are raised as
    SQLAlchemy's (a duplicate id as ``IntegrityError``), and a lost connection is invalidated,
    as for any statement."""
    quote = engine.dialect.identifier_preparer
    statement = (
        f"COPY {quote.format_table(table)} ({', '.join(quote.quote(c) for c in columns)}) "
        "FROM STDIN"
    )
    dbapi = engine.dialect.loaded_dbapi

    def insert(conn: Connection, rows: list[Row]) -> None:
        pooled = conn.connection
        driver_connection: Any = pooled.driver_connection
        try:
            with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except dbapi.Error as exc:
            lost = engine.dialect.is_disconnect(exc, pooled.dbapi_connection, None)
            if lost:
                conn.invalidate(exc)
            raise sa.exc.DBAPIError.instance(
                statement,
                None,
                exc,
                dbapi.Error,
                connection_invalidated=lost,
                dialect=engine.dialect,
            ) from exc

    return insert


# -- engine and schema ---------------------------------------------------------------------


def open_engine(uri: str, busy_timeout: float, *, read_only: bool = False) -> Engine:
    """An engine for ``uri``; SQLite files get WAL mode and ``busy_timeout`` seconds.

    With ``read_only``, a SQLite file is opened in SQLite's read-only mode (a missing file is
    an error, not a new database) and its journal mode is left as it is.

    Raises:
        ConfigError: the URL is malformed or names an in-memory SQLite database.
        MissingDependencyError: the database driver is not installed.
        StoreError: ``read_only`` and the SQLite file does not exist.
    """
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
        path = Path(url.database).expanduser()
        if read_only:
            if not path.is_file():
                raise StoreError(f"no inference store at {str(path)!r}: the file does not exist")
            url = url.set(
                database=f"file:{quote(str(path.resolve()))}?mode=ro",
                query={**url.query, "uri": "true"},
            )
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"store_uri {uri!r}: cannot create the directory {str(path.parent)!r} for "
                    f"the SQLite file: {exc.strerror or exc}"
                ) from exc
    connect_args: dict[str, Any] = {}
    if url.get_driver_name() in ("psycopg", "psycopg2"):  # both speak through libpq
        connect_args = {k: v for k, v in LIBPQ_TIMEOUTS.items() if k not in url.query}
    try:
        engine = sa.create_engine(url, connect_args=connect_args)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise MissingDependencyError(
            f"no database driver for {url.drivername!r}: {exc}; for PostgreSQL install "
            "'psycopg[binary]' and use a postgresql+psycopg:// URL"
        ) from exc
    if sqlite:
        pragmas = _sqlite_pragmas(int(busy_timeout * 1000), switch_to_wal=not read_only)
        sa.event.listen(engine, "connect", pragmas)
    return engine


def _sqlite_pragmas(busy_ms: int, switch_to_wal: bool = True) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        if switch_to_wal:
            # WAL: readers never block the writer; NORMAL sync is safe with WAL (a power cut
            # may lose the last transactions, never corrupt the file).
            _wal_mode(cursor, busy_ms / 1000)
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


def _wal_mode(cursor: Any, timeout: float) -> None:
    """Switch the file to WAL (it stays so). While another process holds a lock on a new
    file (several workers opening it at once), SQLite refuses the switch at once instead of
    waiting ``busy_timeout``, so wait here."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def is_postgresql(bind: Engine | Connection) -> bool:
    """Whether ``bind`` talks to PostgreSQL (rather than SQLite)."""
    return bind.dialect.name == "postgresql"


def stream_lock_key(stream_id: int) -> tuple[int, int]:
    """The PostgreSQL advisory lock key of a stream's drift cursor."""
    return LOCK_NAMESPACE, stream_id & 0x7FFFFFFF  # int4; a collision only serialises more


def _stored_version(conn: Connection) -> int | None:
    if not sa.inspect(conn).has_table(schema_version.name):
        return None
    version = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
    return None if version is None else int(version)


_SCHEMA_ATTEMPTS = 10


def ensure_schema(engine: Engine) -> None:
    """Create the tables on first use, upgrade an older schema, refuse a newer one.

    Several processes may open a new or older database at once. On PostgreSQL an advisory lock
    makes the whole job one transaction of one process (DDL is transactional there); on SQLite a
    process that collides with another looks again.

    Raises:
        StoreError: the stored schema is newer than :data:`SCHEMA_VERSION`.
        sqlalchemy.exc.SQLAlchemyError: the database failed.
    """
    attempts = 0
    while True:
        try:
            with engine.begin() as conn:
                if is_postgresql(conn):
                    conn.execute(
                        sa.select(sa.func.pg_advisory_xact_lock(LOCK_NAMESPACE, SCHEMA_LOCK_KEY))
                    )
                _create_or_upgrade(conn)
            return
        except (IntegrityError, sa.exc.OperationalError, sa.exc.ProgrammingError):
            # Another process was creating or upgrading the schema at the same moment (on
            # SQLite each CREATE TABLE commits by itself, so processes can collide on any of
            # the tables): look again after a short random pause.
            attempts += 1
            if attempts == _SCHEMA_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.02, 0.2))


def _create_or_upgrade(conn: Connection) -> None:
    version = _stored_version(conn)
    if version is None:
        metadata.create_all(conn)
        conn.execute(schema_version.insert().values(version=SCHEMA_VERSION, applied_at=time.time()))
        return
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the inference store has schema version {version}; this mlflow-monitor "
            f"understands versions up to {SCHEMA_VERSION}: upgrade mlflow-monitor"
        )
    while version < SCHEMA_VERSION:
        MIGRATIONS[version](conn)
        version += 1
        conn.execute(schema_version.insert().values(version=version, applied_at=time.time()))


def find_stream(engine: Engine, model_name: str, model_version: str) -> int | None:
    """The ``stream_id`` of a model version, None when nothing was recorded for it; reads only.

    Raises:
        StoreError: the database holds no inference store, or one of a newer schema.
        sqlalchemy.exc.SQLAlchemyError: the database failed.
    """
    with engine.connect() as conn:
        version = _stored_version(conn)
        if version is None:
            raise StoreError(f"{engine.url.render_as_string()!r} holds no inference store")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the inference store has schema version {version}; this mlflow-monitor "
                f"understands versions up to {SCHEMA_VERSION}: upgrade mlflow-monitor"
            )
        s = streams.c
        found = conn.execute(
            sa.select(s.stream_id).where(
                s.model_name == model_name, s.model_version == model_version
            )
        ).scalar()
    return None if found is None else int(found)


def register_stream(engine: Engine, model_name: str, model_version: str) -> int:
    """The ``stream_id`` of a model version, registered on first use (by any process)."""
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
