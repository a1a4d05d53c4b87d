"""SqlInferenceStore on PostgreSQL: real processes writing, labelling and checking one stream
at once, and the drift cursor with a writer that commits late.

Each test gets a fresh database on the session's private PostgreSQL server
(tests/support/postgres.py).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import sqlalchemy as sa

from mlflow_monitor.store.interface import PredictionBatch, StoreError
from mlflow_monitor.store.sql.schema import SCHEMA_VERSION
from mlflow_monitor.store.sql.store import SqlInferenceStore

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from mlflow_monitor.store.sql.store import SqlInferenceStore
    from mlflow_monitor.store.interface import PredictionBatch, StoreError

    uri, go = sys.argv[1], Path(sys.argv[2])
    tag, n, labelled = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "labelled"
    while not go.exists():  # start together with the other writers
        time.sleep(0.005)
    store = SqlInferenceStore(uri, "reviews", "3", batch_size=100, flush_seconds=0.01)
    for start in range(0, n, 50):
        values = tag * 1_000_000 + np.arange(start, start + 50, dtype=float)
        store.add(PredictionBatch(
            [f"{tag}-{start + i}" for i in range(50)], [1] * 50, [0.5] * 50,
            [int(v) % 2 for v in values] if labelled else None, values[:, None],
        ))
    store.close()
    counts = store.counts()
    print(counts.dropped, counts.rejected)
    """
)


def batch(ids, values=None, labels=None):
    n = len(ids)
    features = None if values is None else np.asarray(values, dtype=float)[:, None]
    return PredictionBatch(list(ids), [1] * n, [0.5] * n, labels, features)


def start_writers(uri, tmp_path, tags, n, labelled=True):
    """Writer processes (each ``n`` rows, ids ``<tag>-<i>``, drift value ``tag * 1e6 + i``),
    waiting for the returned path to exist before they open the store and write."""
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [
                *(sys.executable, "-c", WRITER, uri, str(go)),
                *(str(tag), str(n), "labelled" if labelled else "unlabelled"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in tags
    ]
    return go, writers


def finish(writers):
    outputs = [w.communicate(timeout=120)[0] for w in writers]
    assert [w.returncode for w in writers] == [0] * len(writers)
    return outputs


def test_two_processes_write_one_stream_while_it_is_checked(postgres_uri, tmp_path):
    n = 3000
    checker = SqlInferenceStore(postgres_uri, "reviews", "3")
    go, writers = start_writers(postgres_uri, tmp_path, (1, 2), n)
    go.touch()
    taken: list[float] = []
    while any(w.poll() is None for w in writers):  # check while they write
        rows = checker.take_features(1, 10**6)
        taken.extend(float(r[0]) for r in rows or [])
    assert finish(writers) == ["0 0\n", "0 0\n"]  # nothing dropped or rejected
    taken.extend(float(r[0]) for r in checker.take_features(1, 10**6) or [])
    expected = [tag * 1_000_000 + i for tag in (1, 2) for i in range(n)]
    assert sorted(taken) == expected  # every row exactly once
    counts = checker.counts()
    assert (counts.predictions, counts.labels) == (2 * n, 2 * n)
    checker.close()


def test_feedback_from_one_process_for_predictions_another_wrote(postgres_uri, tmp_path):
    labeller = textwrap.dedent(
        """
        import sys
        from mlflow_monitor import FeedbackError, UnknownPredictionError
        from mlflow_monitor.store.sql.store import SqlInferenceStore

        with SqlInferenceStore(sys.argv[1], "reviews", "3") as store:
            for i in range(0, 200, 2):
                store.label(f"7-{i}", 0)
            for pid in ("7-0", "7-100000"):
                try:
                    store.label(pid, 1)
                except (FeedbackError, UnknownPredictionError) as exc:
                    print(type(exc).__name__)
        """
    )
    go, writers = start_writers(postgres_uri, tmp_path, (7,), 200, labelled=False)
    go.touch()
    finish(writers)
    with SqlInferenceStore(postgres_uri, "reviews", "3") as store:
        done = subprocess.run(
            [sys.executable, "-c", labeller, postgres_uri],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert done.stdout.split() == ["FeedbackError", "UnknownPredictionError"]
        assert store.counts().labels == 100
        assert store.labelled_window(3) == [(1, 0)] * 3


def test_a_late_committing_writer_loses_no_drift_row(postgres_uri):
    """A writer transaction that got its sequence numbers before another writer's, but
    commits after a drift check started, must not have its rows skipped by the cursor."""
    slow = SqlInferenceStore(postgres_uri, "reviews", "3", batch_size=10)
    fast = SqlInferenceStore(postgres_uri, "reviews", "3", batch_size=10)
    checker = SqlInferenceStore(postgres_uri, "reviews", "3")
    inserted, commit = threading.Event(), threading.Event()
    insert = slow._writer._insert_predictions

    def insert_then_wait(conn, rows):  # inside the writer's transaction
        insert(conn, rows)
        inserted.set()
        commit.wait(30)

    slow._writer._insert_predictions = insert_then_wait
    slow.add(batch([f"s{i}" for i in range(10)], range(10)))  # lower sequence numbers
    assert inserted.wait(30)
    fast.add(batch([f"f{i}" for i in range(10)], range(10, 20)))
    assert fast.flush(30)  # committed, with higher sequence numbers

    taken: list[list[float]] = []
    check = threading.Thread(
        target=lambda: taken.append([float(r[0]) for r in checker.take_features(1, 100) or []])
    )
    check.start()
    with slow.engine.connect() as conn:  # wait until the check waits for the slow writer
        waiting = sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        )
        deadline = time.monotonic() + 30
        while check.is_alive() and not conn.execute(waiting).scalar():
            assert time.monotonic() < deadline, "the check neither finished nor waited"
            time.sleep(0.01)
    commit.set()
    check.join(30)
    assert slow.flush(30)
    taken.append([float(r[0]) for r in checker.take_features(1, 100) or []])
    assert sorted(v for part in taken for v in part) == [float(i) for i in range(20)]
    for store in (slow, fast, checker):
        store.close()


def test_rows_written_after_the_bound_wait_for_the_next_check(postgres_uri):
    """Between bounding its read and reading, a check must not take rows of writers that
    started after the bound: one of them may still commit a lower sequence number."""
    slow = SqlInferenceStore(postgres_uri, "reviews", "3", batch_size=10)
    fast = SqlInferenceStore(postgres_uri, "reviews", "3", batch_size=10)
    checker = SqlInferenceStore(postgres_uri, "reviews", "3")
    inserted, commit = threading.Event(), threading.Event()
    insert = slow._writer._insert_predictions

    def insert_then_wait(conn, rows):
        insert(conn, rows)
        inserted.set()
        commit.wait(30)

    slow._writer._insert_predictions = insert_then_wait
    bound = checker._written_horizon

    def bound_then_write():  # the stream is empty when the bound is read
        horizon = bound()
        slow.add(batch([f"s{i}" for i in range(10)], range(10)))
        assert inserted.wait(30)
        fast.add(batch([f"f{i}" for i in range(10)], range(10, 20)))
        assert fast.flush(30)
        return horizon

    checker._written_horizon = bound_then_write
    assert checker.take_features(1, 100) is None
    checker._written_horizon = bound
    commit.set()
    assert slow.flush(30)
    rows = checker.take_features(1, 100)
    assert [float(r[0]) for r in rows] == [float(i) for i in range(20)]
    for store in (slow, fast, checker):
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_new_database_is_set_up_by_several_processes_at_once(backend, tmp_path, request):
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path}/inference.db"
    else:
        uri = request.getfixturevalue("postgres_uri")
    go, writers = start_writers(uri, tmp_path, (1, 2, 3, 4), 50)
    time.sleep(2)  # let them all import and wait at the line (not needed for correctness)
    go.touch()
    finish(writers)
    with SqlInferenceStore(uri, "reviews", "3") as store:
        assert store.counts().predictions == 200
        with store.engine.connect() as conn:
            versions = conn.exec_driver_sql("SELECT version FROM monitor_schema_version").all()
            assert versions == [(SCHEMA_VERSION,)]
            assert conn.exec_driver_sql("SELECT count(*) FROM monitor_streams").scalar() == 1


@pytest.mark.parametrize("rows", [1, 1000], ids=["one-row", "thousand-rows"])
def test_feature_bytes_survive_bytea(postgres_uri, rows, rng):
    values = rng.normal(size=(rows, 5))
    values[0, :3] = [np.nan, np.inf, -0.0]
    with SqlInferenceStore(postgres_uri, "reviews", "3") as store:
        store.add(
            PredictionBatch([str(i) for i in range(rows)], [1] * rows, [None] * rows, None, values)
        )
        got = np.vstack(store.take_features(1, rows))
    np.testing.assert_array_equal(got, values)
    assert np.signbit(got[0, 2])


def test_rows_wait_in_the_queue_while_the_database_is_down(postgres_uri, postgres_server):
    store = SqlInferenceStore(postgres_uri, "reviews", "3", batch_size=10)
    store.add(batch([f"a{i}" for i in range(10)]))
    assert store.flush(30)
    postgres_server.stop()
    try:
        store.add(batch([f"b{i}" for i in range(10)]))  # never raises
        assert not store.flush(2)  # kept, not given up on
        assert store.unavailable_since is not None
        with pytest.raises(StoreError, match="unavailable"):
            store.label("a1", 1)  # reads fail clearly, without waiting for the queue
    finally:
        postgres_server.start()
    store.add(batch([f"c{i}" for i in range(10)]))
    assert store.flush(30)
    counts = store.counts()
    assert (counts.predictions, counts.dropped, counts.queued) == (30, 0, 0)
    assert store.unavailable_since is None
    store.close()


def test_close_drops_and_counts_what_an_unreachable_database_never_took(
    postgres_uri, postgres_server
):
    store = SqlInferenceStore(postgres_uri, "reviews", "3", batch_size=10)
    store.add(batch(["first"]))
    assert store.flush(30)
    postgres_server.stop()
    try:
        store.add(batch([f"b{i}" for i in range(10)]))
        started = time.monotonic()
        store.close(timeout=1.0)  # gives the database one second, then gives up
        assert time.monotonic() - started < 15
        assert store.dropped == 10
    finally:
        postgres_server.start()


def test_a_connection_lost_during_copy_is_an_invalidated_operational_error(postgres_uri):
    with SqlInferenceStore(postgres_uri, "reviews", "3") as store:
        conn = store.engine.connect()
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with store.engine.connect() as admin:
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        row = (store._stream, "x", 1.0, "1", None, None, None)
        with pytest.raises(sa.exc.OperationalError) as caught:
            store._writer._insert_predictions(conn, [row])
        assert caught.value.connection_invalidated and conn.invalidated
        conn.close()
        store.add(batch(["y"]))
        assert store.counts().predictions == 1  # the pool is usable again


@pytest.mark.parametrize("bad_id", ["nul\x00id", "\ud800"], ids=["nul", "surrogate"])
def test_a_row_postgresql_refuses_takes_no_neighbour_with_it(postgres_uri, bad_id):
    """Issue #16, defect 1: psycopg refuses a NUL in text (DataError) and cannot encode a lone
    surrogate; the writer isolates that row and writes the rest of its chunk."""
    store = SqlInferenceStore(postgres_uri, "reviews", "nul", flush_seconds=60)
    try:
        ids = [f"ok-{i}" for i in range(40)]
        ids[23] = bad_id
        for start in range(0, 40, 8):  # five requests, one transaction
            store.add(batch(ids[start : start + 8], np.arange(start, start + 8)))
        assert store.flush(60)
        counts = store.counts()
        assert (counts.predictions, counts.dropped) == (39, 1)
    finally:
        store.close()
