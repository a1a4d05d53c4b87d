"""SqlInferenceStore: sharing one database between "processes", the background writer, the
schema, and a monitor whose checks run in another process than its recordings.

Every test that takes ``uri`` runs on a SQLite file and on a private PostgreSQL server
(tests/support/postgres.py); PostgreSQL-only behaviour is in test_postgres_store.py."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import sqlalchemy as sa

from mlflow_monitor import (
    FeedbackError,
    UnknownPredictionError,
    create_monitor,
)
from mlflow_monitor.store.interface import PredictionBatch, StoreError
from mlflow_monitor.store.sql.schema import metadata, predictions, streams
from mlflow_monitor.store.sql.store import SCHEMA_VERSION, SqlInferenceStore, schema_version

BASELINE = {"precision": 0.9, "recall": 0.9, "accuracy": 0.9, "f1_score": 0.9}


def batch(ids, predictions=None, true_labels=None, features=None):
    n = len(ids)
    return PredictionBatch(
        list(ids), list(predictions or [1] * n), [0.5] * n, true_labels, features
    )


def test_labels_from_another_process_reach_the_recording_process(open_store):
    serving, feedback = open_store(), open_store()
    serving.add(batch(["a", "b", "c"], predictions=[1, 0, 1]))
    serving.flush()
    feedback.label("a", 1)
    feedback.label("c", 0)
    assert serving.labelled_window(10) == [(1, 1), (1, 0)]
    assert serving.counts().labels == 2


def test_labels_from_another_process_count_among_the_recent_predictions(open_store):
    serving, feedback, other_stream = open_store(), open_store(), open_store(model_version="4")
    serving.add(batch(["a", "b", "c", "d"]))
    other_stream.add(batch(["a", "b"]))
    serving.flush()
    other_stream.flush()
    feedback.label("a", 1)
    feedback.label("d", 0)
    other_stream.label("b", 1)  # same id, another stream: not counted
    assert serving.labelled_among_recent(1) == 1  # d
    assert serving.labelled_among_recent(3) == 1  # b, c, d
    assert serving.labelled_among_recent(10) == 2


def test_a_label_is_attached_once_across_processes(open_store):
    first, second = open_store(), open_store()
    first.add(batch(["a"]))
    first.label("a", 1)  # flushes its own queue first
    with pytest.raises(FeedbackError, match="'a' already has true_label 1"):
        second.label("a", 0)
    with pytest.raises(UnknownPredictionError, match="never recorded for model 'reviews'"):
        second.label("b", 0)


def test_drift_rows_are_consumed_exactly_once_across_processes(open_store, rng):
    writer, checker_a, checker_b = open_store(), open_store(), open_store()
    rows = rng.normal(size=(300, 2))
    taken = []
    for start in range(0, 300, 30):
        writer.add(batch([f"r{i}" for i in range(start, start + 30)], features=rows[start:][:30]))
        writer.flush()
        got = (checker_a if start % 60 else checker_b).take_features(1, 1000)
        taken.extend(got)
    assert checker_b.take_features(1, 1000) is None
    np.testing.assert_array_equal(np.vstack(taken), rows)


def test_concurrent_checkers_never_share_a_row(open_store, rng):
    writer = open_store()
    checkers = [open_store() for _ in range(3)]
    n = 600
    writer.add(batch([str(i) for i in range(n)], features=np.arange(n, dtype=float)[:, None]))
    writer.flush()
    taken: list[list[float]] = [[] for _ in checkers]

    def check(i):
        while (rows := checkers[i].take_features(1, 50)) is not None:
            taken[i].extend(float(r[0]) for r in rows)

    threads = [threading.Thread(target=check, args=(i,)) for i in range(len(checkers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = sorted(v for part in taken for v in part)
    assert everything == sorted(set(everything))  # no row twice
    assert len(everything) <= n


def test_streams_share_a_database_but_not_their_data(open_store):
    v3, v4 = open_store(), open_store(model_version="4")
    v3.add(batch(["a"], features=np.ones((1, 2))))
    v4.add(batch(["a"]))  # the same id in another stream is fine
    v4.label("a", 0)
    assert v3.counts().labels == 0 and v4.counts().labels == 1
    assert v3.pending_features() == 1 and v4.pending_features() == 0


def test_repeated_ids_are_rejected_counted_and_logged(open_store, caplog):
    store = open_store()
    store.add(batch(["a", "b"], true_labels=[1, None]))
    store.add(batch(["b", "c", "c"], predictions=[0, 0, 1], true_labels=[0, 1, 0]))
    with caplog.at_level(logging.WARNING, logger="mlflow_monitor"):
        store.flush()
    counts = store.counts()
    assert (counts.predictions, counts.labels, counts.rejected) == (3, 2, 2)
    assert store.labelled_window(5) == [(1, 1), (0, 1)]  # 'c' keeps its first row
    assert "rejected 2 predictions" in caplog.text


def _paused(store):
    """Make the writer block inside its next write until the returned event is set."""
    entered, release = threading.Event(), threading.Event()
    write = store._writer._write

    def paused_write(chunk):
        entered.set()
        release.wait(10)
        write(chunk)

    store._writer._write = paused_write
    return entered, release


def test_a_full_queue_drops_and_counts_instead_of_blocking(open_store, caplog):
    store = open_store(queue_size=10, batch_size=5, put_timeout=0.01)
    entered, release = _paused(store)
    store.add(batch([f"a{i}" for i in range(5)]))
    assert entered.wait(5)  # the writer holds those 5 rows; the queue is empty
    store.add(batch([f"b{i}" for i in range(8)]))
    with caplog.at_level(logging.WARNING, logger="mlflow_monitor"):
        started = time.monotonic()
        store.add(batch([f"c{i}" for i in range(4)]))  # room for 2
        store.add(batch(["d0"]))
        assert time.monotonic() - started < 1
    assert store.dropped == 3
    assert "dropped 2 predictions: the write queue is full" in caplog.text
    release.set()
    store.flush()
    counts = store.counts()
    assert (counts.predictions, counts.dropped, counts.queued) == (15, 3, 0)


def test_close_writes_everything_queued(uri, open_store):
    store = open_store(flush_seconds=3600, batch_size=10_000)
    for i in range(20):
        store.add(batch([f"{i}-{j}" for j in range(50)]))
    store.close()
    store.add(batch(["late"]))  # after close: dropped, never raised
    assert store.dropped == 1
    assert open_store().counts().predictions == 1000


def test_records_of_a_process_that_exits_normally_are_written(uri, tmp_path):
    child = textwrap.dedent(
        """
        import sys
        from mlflow_monitor import create_monitor

        monitor = create_monitor({
            "store_uri": sys.argv[1], "model_name": "child",
            "store_flush_seconds": 3600, "store_batch_size": 100000,
        })
        for start in range(0, 1000, 100):
            monitor.record_predictions([i % 2 for i in range(100)], [0.5] * 100)
        """
    )
    subprocess.run([sys.executable, "-c", child, uri], check=True, timeout=60)
    with SqlInferenceStore(uri, "child") as store:
        assert store.counts().predictions == 1000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_worker_writes_its_own_rows_not_its_parents(uri, open_store):
    # Servers that load the model before forking workers (gunicorn --preload) do this.
    store = open_store(flush_seconds=3600, batch_size=10_000)
    store.add(batch(["parent-1", "parent-2"]))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        store.add(batch(["child"]))
        os._exit(0 if store.flush(10) and store.counts().rejected == 0 else 1)
    assert os.waitpid(pid, 0)[1] == 0
    store.close()
    counts = open_store().counts()
    assert (counts.predictions, counts.rejected) == (3, 0)


def test_schema_is_versioned_and_a_newer_one_refused(uri, open_store):
    store = open_store()
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.execute(sa.select(schema_version.c.version)).scalars().all() == [4]
    assert SCHEMA_VERSION == 4
    with store.engine.begin() as conn:
        conn.execute(schema_version.insert().values(version=5, applied_at=0.0))
    with pytest.raises(StoreError, match="schema version 5; this mlflow-monitor understands"):
        SqlInferenceStore(uri)


def test_a_version_1_database_is_upgraded_and_keeps_its_data(uri):
    engine = sa.create_engine(uri)
    later = {"monitor_leases", "monitor_checks", "monitor_triggers"}
    version_1 = [t for t in metadata.sorted_tables if t.name not in later]
    metadata.create_all(engine, tables=version_1)
    with engine.begin() as conn:
        conn.execute(schema_version.insert().values(version=1, applied_at=0.0))
        conn.execute(
            streams.insert().values(model_name="reviews", model_version="3", drift_cursor=0)
        )
        stream = conn.execute(sa.select(streams.c.stream_id)).scalar_one()
        conn.execute(
            predictions.insert().values(
                stream_id=stream, prediction_id="old", timestamp=1.0, prediction="1"
            )
        )
    engine.dispose()
    with SqlInferenceStore(uri, "reviews", "3") as store:
        assert store.counts().predictions == 1
        with store.engine.connect() as conn:
            versions = conn.execute(sa.select(schema_version.c.version)).scalars().all()
            assert all(sa.inspect(conn).has_table(name) for name in later)
        assert sorted(versions) == [1, 2, 3, 4]
        lease = store.leadership("checks:reviews/3")
        assert lease.try_acquire() and lease.is_leader
        store.record_trigger({"reason": "manual", "details": {}})
        assert store.trigger_history()[0] == 1


def test_prune_deletes_old_predictions_and_their_labels(open_store):
    store = open_store()
    store.add(PredictionBatch(["old"], [1], [None], [1], None, timestamp=100.0))
    store.add(PredictionBatch(["new"], [1], [None], [0], None, timestamp=200.0))
    assert store.prune(150.0) == 1
    assert store.counts().predictions == 1
    assert store.labelled_window(5) == [(1, 0)]


def test_monitor_checks_in_one_process_what_another_recorded(uri, rng, registry):
    options = {
        "store_uri": uri,
        "model_name": "reviews",
        "model_version": "3",
        "drift_min_samples": 50,
        "performance_min_samples": 20,
        "random_seed": 0,
    }
    serving = create_monitor(options, registry=registry)
    checker = create_monitor(options)
    reference = rng.normal(size=(300, 3))
    for monitor in (serving, checker):
        monitor.setup_drift_detection(reference)
        monitor.setup_performance_baseline(BASELINE)
    ids = serving.record_predictions(
        np.ones(60, dtype=int), rng.random(60), features=rng.normal(size=(60, 3)) + [0, 0, 2]
    )
    serving.store.flush()  # what the writer does within store_flush_seconds
    for pid in ids[:30]:
        checker.record_feedback(pid, 0)  # feedback arrives at another process
    performance = serving.check_performance()
    assert performance.status == "degraded" and performance.performance.n_samples == 30
    drift = checker.check_drift()
    assert drift.status == "drift" and drift.drift.n_test == 60
    assert serving.check_drift().status == "skipped"  # the rows were consumed once
    status = serving.get_monitoring_status()
    assert status["counts"]["predictions_held"] == 60
    assert status["store"] == {
        "model_name": "reviews",
        "model_version": "3",
        "predictions": 60,
        "labels": 30,
        "queued": 0,
        "dropped": 0,
        "rejected": 0,
        "file_problem": None,  # the SQLite file is where the store opened it (issue #16)
    }
    assert (
        registry.get_sample_value(
            "fake_review_detection_predictions_total", {"model": "reviews", "version": "3"}
        )
        == 60
    )
    serving.close()
    checker.close()


def test_monitor_with_raw_features_stores_them_as_json(uri):
    from mlflow_monitor import DriftDetector

    def lengths(texts):
        return np.array([[len(t), t.count("!")] for t in texts], dtype=float)

    monitor = create_monitor({"store_uri": uri, "drift_min_samples": 20})
    monitor.setup_drift_detection(
        ["solid blender", "does the job", "arrived late"] * 30,
        detector=DriftDetector(p_val=0.01, preprocess_fn=lengths),
    )
    monitor.record_predictions([1] * 40, features=["BEST PRODUCT EVER!!! BUY NOW!!!"] * 40)
    assert monitor.check_drift().status == "drift"
    monitor.close()


def test_check_results_and_triggers_are_shared_by_processes(uri, open_store):
    serving, checking = open_store(), open_store()
    assert checking.last_checks() == {} and checking.trigger_history() == (0, [])
    for status in ("ok", "drift"):
        serving.record_check({"kind": "drift", "status": status, "drift": {"p_value": 0.01}})
    serving.record_check({"kind": "performance", "status": "ok", "performance": None})
    for i in range(5):
        serving.record_trigger({"reason": f"r{i}", "details": {"i": i}})
    last = checking.last_checks()
    assert {k: v["status"] for k, v in last.items()} == {"drift": "drift", "performance": "ok"}
    assert last["drift"]["drift"] == {"p_value": 0.01}
    history = checking.check_history(limit=2)  # the latest two, oldest first, any kind
    assert [(c["kind"], c["status"]) for c in history] == [
        ("drift", "drift"),
        ("performance", "ok"),
    ]
    assert len(checking.check_history()) == 3
    total, latest = checking.trigger_history(limit=2)
    assert total == 5
    assert [e["reason"] for e in latest] == ["r3", "r4"]
    other_version = SqlInferenceStore(uri, model_name="reviews", model_version="other")
    try:
        assert other_version.last_checks() == {}
        assert other_version.check_history() == []
        assert other_version.trigger_history() == (0, [])
    finally:
        other_version.close()


def test_raw_rows_with_pandas_missing_values_are_stored(open_store):
    import pandas as pd

    store = open_store()
    rows = [[pd.NA, "text"], [3, pd.NaT], [pd.Timestamp("2026-01-02"), None]]
    store.add(PredictionBatch(["a", "b", "c"], [1, 0, 1], [None] * 3, None, rows))
    assert store.flush(30)
    counts = store.counts()
    assert (counts.predictions, counts.dropped, counts.rejected) == (3, 0, 0)
    assert store.take_features(1, 10) == [[None, "text"], [3, None], ["2026-01-02T00:00:00", None]]


def test_generated_ids_and_array_columns_are_written_across_writer_chunks(open_store):
    """A batch kept as arrays, with generated ids, larger than the writer's chunk: every row
    is written with its own id, label and values."""
    from mlflow_monitor.store.ids import GeneratedIds

    store = open_store(batch_size=64)
    ids = GeneratedIds.new(250)
    predictions = np.arange(250) % 2
    probabilities = np.linspace(0.0, 1.0, 250)
    rows = np.array([[f"text {i}", i] for i in range(250)], dtype=object)
    store.add(PredictionBatch(ids, predictions, probabilities, None, rows))
    store.add(PredictionBatch(GeneratedIds.new(100), np.ones(100, int), np.full(100, 0.5)))
    store.flush()
    assert store.counts().predictions == 350 and store.dropped == 0
    for i in (0, 63, 64, 249):
        record = store.label(ids[i], 1)
        assert record.prediction == i % 2 and record.probability == probabilities[i]
    taken = store.take_features(1, 1000)
    assert taken[:2] == [["text 0", 0], ["text 1", 1]] and len(taken) == 250
