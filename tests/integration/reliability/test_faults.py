"""Faults a real `mlflow-monitor serve` process survives: its process being stopped (SIGTERM)
or killed (SIGKILL) mid-stream, and its inference database being locked or stopped.

Each test streams predictions at a real server over loopback and then reads the database
directly. See docs/reliability.md for what each test promises.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.support.http import http_json, post_json
from tests.support.monitor_server import MonitorServer
from tests.support.reviews import wrap_example
from tests.support.streams import PredictionStream, stored_predictions

MODEL = "faults-reviews"
SMALL_QUEUE_MODEL = "faults-small-queue"
PREFIX = "faults_reviews"
FLUSH_SECONDS = 0.5
# The store's SQLite busy timeout (SqlInferenceStore's default): a write waits this long for
# another connection's lock before the attempt fails.
BUSY_TIMEOUT = 10.0
SMALL_BATCH, SMALL_QUEUE = 10, 30


@pytest.fixture(scope="module")
def wrapped(embedded_tracking):
    return wrap_example(MODEL, {"metrics_prefix": PREFIX, "store_flush_seconds": FLUSH_SECONDS})


@pytest.fixture(scope="module")
def small_queue(embedded_tracking):
    return wrap_example(
        SMALL_QUEUE_MODEL,
        {
            "metrics_prefix": "faults_small_queue",
            "store_flush_seconds": FLUSH_SECONDS,
            "store_batch_size": SMALL_BATCH,
            "store_queue_size": SMALL_QUEUE,
        },
    )


def _server(root: Path, model_uri: str, store_uri: str, workers: int = 1) -> MonitorServer:
    return MonitorServer(
        root,
        model_uri,
        args=["--workers", str(workers), "--store-uri", store_uri, "--no-checks"],
    )


def _signal_and_wait(server: MonitorServer, sig: signal.Signals) -> int:
    """Send ``sig`` to the server's main process only (as `docker stop` does) and wait."""
    process = server._process
    assert process is not None
    os.kill(process.pid, sig)
    code = process.wait(60)
    server.stop()  # reap workers that outlived it, close the log
    return code


def _complete(row) -> bool:
    return (
        row.prediction in ("0", "1")
        and row.probability is not None
        and 0.0 <= row.probability <= 1.0
        and row.timestamp is not None
        and bool(row.raw_features)
    )


# -- SIGTERM and SIGKILL --------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2], ids=["one-worker", "two-workers"])
def test_sigterm_loses_nothing_acknowledged(wrapped, tmp_path, workers):
    store_uri = f"sqlite:///{tmp_path}/inference.db"
    server = _server(tmp_path, wrapped.uri, store_uri, workers).start()
    stream = PredictionStream(server.uri, tag="term").start()
    try:
        stream.wait_for(40)
    finally:
        code = _signal_and_wait(server, signal.SIGTERM)
        stream.stop()
    # uvicorn shuts down gracefully, then re-raises the signal: the exit status says SIGTERM.
    assert code in (0, -signal.SIGTERM), server.log()[-3000:]
    rows = stored_predictions(store_uri, MODEL)
    stored = [r.prediction_id for r in rows]
    assert len(stored) == len(set(stored)), "a prediction was stored twice"
    missing = stream.acknowledged_ids() - set(stored)
    assert not missing, f"{len(missing)} acknowledged predictions lost, e.g. {sorted(missing)[:3]}"
    assert set(stored) <= stream.sent_ids()
    assert all(_complete(r) for r in rows)
    assert "Traceback" not in server.log()


def test_sigkill_leaves_a_consistent_store(wrapped, tmp_path):
    store_uri = f"sqlite:///{tmp_path}/inference.db"
    server = _server(tmp_path, wrapped.uri, store_uri).start()
    stream = PredictionStream(server.uri, tag="kill").start()
    try:
        stream.wait_for(20)
        _wait_stored(store_uri, MODEL, 20 * stream.rows)  # the writer has written
        stream.wait_for(len(stream.acknowledged) + 20)  # and more arrived since
        killed_at = time.monotonic()
        _signal_and_wait(server, signal.SIGKILL)
    finally:
        stream.stop()
        server.stop()

    database = Path(tmp_path) / "inference.db"
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = stored_predictions(store_uri, MODEL)
    stored = [r.prediction_id for r in rows]
    assert len(stored) == len(set(stored))
    assert all(_complete(r) for r in rows), "a half-written prediction row"
    assert set(stored) <= stream.sent_ids()
    # A request's rows are one batch; batches are written whole or not at all.
    by_request = {tuple(ids): sum(pid in set(stored) for pid in ids) for ids in stream.sent}
    assert set(by_request.values()) <= {0, stream.rows}, "a request's rows were half written"
    # What was lost was still in the queue: acknowledged within the last few flush periods.
    lost = [i for i in stream.acknowledged if stream.sent[i][0] not in set(stored)]
    assert len(lost) * stream.rows <= 100_000  # the queue bound (store_queue_size)
    assert len(lost) < len(stream.acknowledged), "nothing acknowledged was ever written"
    assert all(killed_at - stream.acknowledged_at[i] < 10 * FLUSH_SECONDS for i in lost)

    # The same store serves again after the kill, and the restarted server writes to it.
    restarted = _server(tmp_path / "again", wrapped.uri, store_uri)
    with restarted:
        status, answer = post_json(
            f"{restarted.uri}/predict", {"text": "works fine", "prediction_id": "after-kill"}
        )
        assert status == 200, answer
        deadline = time.monotonic() + 30
        while "after-kill" not in {r.prediction_id for r in stored_predictions(store_uri, MODEL)}:
            assert time.monotonic() < deadline, "the restarted server did not write"
            time.sleep(0.2)


# -- the database goes away -----------------------------------------------------------------


class _ExclusiveLock:
    """Another process's connection holding SQLite's exclusive lock (BEGIN EXCLUSIVE)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        self.conn.execute("BEGIN EXCLUSIVE")
        self.taken_at = time.monotonic()

    def release(self) -> float:
        """Roll back and return how long the lock was held."""
        self.conn.execute("ROLLBACK")
        self.conn.close()
        return time.monotonic() - self.taken_at


def _status(server: MonitorServer) -> dict:
    return http_json(f"{server.uri}/monitoring/status")


def test_sqlite_locked_predictions_served_then_flushed(wrapped, tmp_path):
    store_uri = f"sqlite:///{tmp_path}/inference.db"
    with _server(tmp_path, wrapped.uri, store_uri) as server:
        post_json(f"{server.uri}/predict", {"text": "warm up", "prediction_id": "warm"})
        _wait_stored(store_uri, MODEL, 1)
        lock = _ExclusiveLock(tmp_path / "inference.db")
        try:
            stream = PredictionStream(server.uri, tag="locked", limit=10).start()
            stream.join()
            # Hold the lock past the busy timeout: the writer's first attempt fails.
            time.sleep(max(0.0, BUSY_TIMEOUT + 1 - (time.monotonic() - lock.taken_at)))
            # Every request was answered while the database could not be written.
            assert stream.acknowledged == list(range(10)), stream.failed
            assert {r.prediction_id for r in stored_predictions(store_uri, MODEL)} == {"warm"}
        finally:
            held = lock.release()
        assert held > BUSY_TIMEOUT
        _wait_stored(store_uri, MODEL, 1 + 30)
        stored = {r.prediction_id for r in stored_predictions(store_uri, MODEL)}
        assert stream.acknowledged_ids() <= stored
        store = _status(server)["store"]
        assert store["dropped"] == 0 and store["queued"] == 0
        assert store["predictions"] == 31


def test_sqlite_locked_past_the_queue_bound_drops_and_counts(small_queue, tmp_path):
    store_uri = f"sqlite:///{tmp_path}/inference.db"
    with _server(tmp_path, small_queue.uri, store_uri) as server:
        post_json(f"{server.uri}/predict", {"text": "warm up", "prediction_id": "warm"})
        _wait_stored(store_uri, SMALL_QUEUE_MODEL, 1)
        lock = _ExclusiveLock(tmp_path / "inference.db")
        try:
            stream = PredictionStream(server.uri, tag="over", limit=40).start()
            stream.join()
            assert stream.acknowledged == list(range(40)), stream.failed  # all served
            time.sleep(max(0.0, BUSY_TIMEOUT + 1 - (time.monotonic() - lock.taken_at)))
        finally:
            lock.release()
        sent = 40 * stream.rows
        deadline = time.monotonic() + 60
        while True:
            store = _status(server)["store"]  # waits for the queue to be written
            if store["queued"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        stored = len(stored_predictions(store_uri, SMALL_QUEUE_MODEL)) - 1
        # In flight (one write batch) plus a full queue were kept; the rest was dropped and
        # counted, and nothing was counted twice or lost uncounted.
        assert store["dropped"] > 0
        assert stored >= SMALL_QUEUE
        assert stored + store["dropped"] == sent
        assert stored <= SMALL_QUEUE + SMALL_BATCH + stream.rows
        # The same count is exported to Prometheus.
        dropped_total = _metric(server.metrics(), "faults_small_queue_records_dropped_total")
        assert dropped_total == store["dropped"]


def _wait_stored(store_uri: str, model: str, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(stored_predictions(store_uri, model)) < n:
        assert time.monotonic() < deadline, f"fewer than {n} predictions stored in {timeout} s"
        time.sleep(0.2)


def _metric(text: str, name: str) -> float:
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name)]
    assert values, f"{name} not exported"
    return sum(values)


def _wait_status(server: MonitorServer, done, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        store = _status(server)["store"]
        if done(store) or time.monotonic() > deadline:
            return store
        time.sleep(0.2)


def test_postgresql_stopped_predictions_served_then_written(
    wrapped, tmp_path, postgres_server, postgres_uri
):
    with _server(tmp_path, wrapped.uri, postgres_uri) as server:
        post_json(f"{server.uri}/predict", {"text": "warm up", "prediction_id": "warm"})
        _wait_stored(postgres_uri, MODEL, 1)
        postgres_server.stop("fast")
        try:
            stream = PredictionStream(server.uri, tag="pg-down", limit=20).start()
            stream.join()
            assert stream.acknowledged == list(range(20)), stream.failed  # all served
            time.sleep(3 * FLUSH_SECONDS)
        finally:
            postgres_server.start()
        sent = 20 * stream.rows
        store = _wait_status(server, lambda s: s["queued"] == 0)
        stored = {r.prediction_id for r in stored_predictions(postgres_uri, MODEL)} - {"warm"}
        assert stored <= stream.sent_ids()
        # Nothing is lost without being counted, and a brief outage loses nothing: the
        # records waited in the queue.
        assert len(stored) + store["dropped"] == sent, (len(stored), store)
        assert _metric(server.metrics(), f"{PREFIX}_records_dropped_total") == store["dropped"]
        assert store["dropped"] == 0
        assert stream.acknowledged_ids() <= stored
        # And the store works again.
        post_json(f"{server.uri}/predict", {"text": "back", "prediction_id": "back"})
        _wait_stored(postgres_uri, MODEL, 2 + len(stored))
