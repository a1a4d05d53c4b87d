"""Vectors of class probabilities in every store: kept per prediction next to the predicted
class's probability, read back in order, and a database of the schema before them (version 3)
opened, upgraded and used by this version.

Tests taking ``uri`` run on a SQLite file and on a private PostgreSQL server
(tests/support/postgres.py); ``any_store`` also on the in-memory store."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from mlflow_monitor import create_monitor
from mlflow_monitor.store import InMemoryStore
from mlflow_monitor.store.ids import new_ids
from mlflow_monitor.store.interface import PredictionBatch
from mlflow_monitor.store.sql.schema import metadata, schema_version, streams
from mlflow_monitor.store.sql.store import SqlInferenceStore


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def any_store(request, tmp_path):
    if request.param == "memory":
        yield InMemoryStore(model_name="reviews", model_version="3")
        return
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path}/inference.db"
    else:
        uri = request.getfixturevalue("postgres_uri")
    store = SqlInferenceStore(uri, "reviews", "3")
    yield store
    store.close()


def _vectors(recent):
    return [None if v is None else v.tolist() for _, _, v in recent]


def test_vectors_round_trip_in_order_beside_rows_without_them(any_store, rng):
    store = any_store
    matrix = rng.dirichlet(np.ones(3), size=100)
    store.add(
        PredictionBatch(
            new_ids(100), matrix.argmax(axis=1), matrix.max(axis=1), class_probabilities=matrix
        )
    )
    store.add(PredictionBatch(["plain-1", "plain-2"], [0, 1], [0.9, None]))  # no vectors
    listed = [np.array([0.2, 0.5, 0.3]), None]
    store.add(
        PredictionBatch(
            ["list-1", "list-2"], [1, 2], [0.5, 0.7], [1, None], class_probabilities=listed
        )
    )
    store.add_one("one", 2, 0.6, None, None, 1.0, class_probabilities=np.array([0.1, 0.3, 0.6]))
    store.flush()
    recent = store.recent_outputs(105)
    assert len(recent) == 105
    vectors = _vectors(recent)
    np.testing.assert_array_equal(np.array(vectors[:100]), matrix)  # float64, bit for bit
    assert vectors[100:] == [None, None, [0.2, 0.5, 0.3], None, [0.1, 0.3, 0.6]]
    assert [p for p, _, _ in recent[100:]] == [0, 1, 1, 2, 2]
    assert [q for _, q, _ in recent[100:]] == [0.9, None, 0.5, 0.7, 0.6]
    # recent_predictions is what it was: pairs, no vectors
    assert store.recent_predictions(2) == [(2, 0.7), (2, 0.6)]
    assert store.label("one", 2).class_probabilities == [0.1, 0.3, 0.6]
    assert store.label("plain-1", 0).class_probabilities is None


def test_the_memory_store_keeps_vectors_through_small_batches_and_state(rng):
    store = InMemoryStore()
    store.add(PredictionBatch(["a"], [0], [0.8]))  # a list block without vectors first
    store.add(
        PredictionBatch(
            ["b", "c"], [1, 0], [0.6, 0.7], class_probabilities=np.array([[0.4, 0.6], [0.7, 0.3]])
        )
    )
    records = store.records()
    assert [r.class_probabilities for r in records] == [None, [0.4, 0.6], [0.7, 0.3]]
    restored = InMemoryStore()
    restored.load(records, [])
    assert _vectors(restored.recent_outputs(3)) == [None, [0.4, 0.6], [0.7, 0.3]]
    rows = [r.to_list() for r in records]
    assert len(rows[0]) == 5 and len(rows[1]) == 6  # state files of older versions: 5 entries


def _version_3_database(uri):
    """A database as mlflow-monitor wrote it before class probabilities were kept: schema
    version 3, whose predictions table has no class_probabilities column, with one stream,
    two predictions and a label."""
    engine = sa.create_engine(uri)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE monitor_predictions DROP COLUMN class_probabilities")
        conn.execute(schema_version.insert().values(version=3, applied_at=0.0))
        conn.execute(
            streams.insert().values(model_name="species", model_version="1", drift_cursor=0)
        )
        stream = conn.execute(sa.select(streams.c.stream_id)).scalar_one()
        for i, label in enumerate(['"setosa"', '"virginica"']):
            conn.execute(
                sa.text(
                    "INSERT INTO monitor_predictions (stream_id, prediction_id, timestamp, "
                    "prediction, probability) VALUES (:s, :i, :t, :p, 0.8)"
                ),
                {"s": stream, "i": f"old-{i}", "t": 1.0 + i, "p": label},
            )
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("monitor_predictions")}
    assert "class_probabilities" not in columns  # really the old table
    engine.dispose()


def test_an_old_schema_database_is_read_as_it_is_and_upgraded_on_open(uri):
    _version_3_database(uri)
    # A read-only store (mlflow-monitor status) reads it without upgrading it.
    with SqlInferenceStore(uri, "species", "1", read_only=True) as reader:
        assert reader.recent_outputs(5) == [("setosa", 0.8, None), ("virginica", 0.8, None)]
    monitor = create_monitor(
        {
            "store_uri": uri,
            "model_name": "species",
            "model_version": "1",
            "task": "multiclass",
            "classes": ["setosa", "versicolor", "virginica"],
        }
    )
    pid = monitor.record_prediction("versicolor", {"versicolor": 0.7, "setosa": 0.3})
    monitor.record_feedback("old-0", "setosa")  # an old row takes its label as before
    monitor.store.flush()
    recent = monitor.store.recent_outputs(5)
    assert [p for p, _, _ in recent] == ["setosa", "virginica", "versicolor"]
    assert _vectors(recent) == [None, None, [0.3, 0.7, 0.0]]
    assert monitor.store.label(pid, "versicolor").class_probabilities == [0.3, 0.7, 0.0]
    with monitor.store.engine.connect() as conn:
        versions = conn.execute(sa.select(schema_version.c.version)).scalars().all()
    assert sorted(versions) == [3, 4]
    monitor.close()
    # Opening it again (the upgrade already done) changes nothing.
    with SqlInferenceStore(uri, "species", "1") as again:
        assert len(again.recent_outputs(10)) == 3
