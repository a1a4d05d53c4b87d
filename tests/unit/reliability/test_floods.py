"""Floods: a request of too many rows is refused, and while the write queue is backed up the
large requests are refused (503) so that small clients' predictions are still recorded.

The store's SQLite file is locked by another connection (a real lock), so the write queue only
fills; the model is wrapped with a small queue (1,000 rows, batch 50), so the bounds are 100
rows per request and 500 queued rows for large requests. Issue #16, defect 3; see
docs/reliability.md and mlflow_monitor/serving/admission.py.
"""

from __future__ import annotations

import sqlite3

import pytest

from tests.support.reviews import wrap_example
from tests.support.serve_app import app_client, post_json_text
from tests.support.streams import stored_predictions

MODEL = "flood-reviews"
QUEUE, BATCH = 1000, 50
MAX_ROWS = QUEUE // 10


@pytest.fixture(scope="module")
def flood_model(embedded_tracking):
    return wrap_example(
        MODEL,
        {
            "metrics_prefix": "flood_reviews",
            "store_queue_size": QUEUE,
            "store_batch_size": BATCH,
            "store_flush_seconds": 0.2,
        },
    )


@pytest.fixture
def served(flood_model, tmp_path):
    uri = f"sqlite:///{tmp_path}/inference.db"
    with app_client(flood_model.uri, uri) as client:
        yield client, client.monitor, uri, tmp_path / "inference.db"


def _rows(tag: str, n: int) -> list[dict[str, str]]:
    return [{"text": "a fine product", "prediction_id": f"{tag}-{i}"} for i in range(n)]


@pytest.mark.parametrize("path", ["/predict", "/invocations"])
def test_a_request_over_the_row_cap_is_refused_and_costs_nothing(served, path):
    client, monitor, uri, _ = served
    rows = _rows("big", MAX_ROWS * 7)
    payload = rows if path == "/predict" else {"dataframe_records": rows}
    answer = post_json_text(client, path, payload)
    assert answer.status_code == (413 if path == "/predict" else 400), answer.text[:300]
    assert f"at most {MAX_ROWS}" in answer.json()["message"]
    assert len(answer.content) < 2000, "the refusal echoes the payload"
    assert (
        post_json_text(
            client,
            path,
            rows[:MAX_ROWS] if path == "/predict" else {"dataframe_records": rows[:MAX_ROWS]},
        ).status_code
        == 200
    )
    assert monitor.store.flush(30)
    assert len(stored_predictions(uri, MODEL)) == MAX_ROWS
    assert monitor.store.counts().dropped == 0


def test_floods_are_refused_while_small_clients_are_recorded(served):
    client, monitor, uri, database = served
    assert post_json_text(client, "/predict", _rows("warm", 1)).status_code == 200
    assert monitor.store.flush(30)
    lock = sqlite3.connect(database, timeout=60, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        flood = [post_json_text(client, "/predict", _rows(f"flood{i}", 90)) for i in range(20)]
        small = [
            post_json_text(client, "/invocations", {"dataframe_records": _rows(f"s{i}", 3)})
            for i in range(60)
        ]
        again = post_json_text(
            client, "/invocations", {"dataframe_records": _rows("flood-inv", 90)}
        )
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    taken = [i for i, a in enumerate(flood) if a.status_code == 200]
    refused = [a for a in flood if a.status_code != 200]
    assert refused and all(a.status_code == 503 for a in refused), [a.text for a in refused]
    assert all(a.headers.get("retry-after") == "1" for a in refused)
    assert refused[0].json()["error_code"] == "OVERLOADED"
    assert 90 * len(taken) <= QUEUE // 2 + BATCH  # at most half the queue (+ a chunk in flight)
    assert all(a.status_code == 200 for a in small), [a.text for a in small if a.status_code != 200]
    assert again.status_code == 503 and len(again.content) < 2000, again.text[:300]

    assert monitor.store.flush(60)
    stored = {r.prediction_id for r in stored_predictions(uri, MODEL)}
    small_ids = {f"s{i}-{j}" for i in range(60) for j in range(3)}
    assert small_ids <= stored, f"{len(small_ids - stored)} small-client predictions lost"
    flood_ids = {f"flood{i}-{j}" for i in taken for j in range(90)}
    assert flood_ids <= stored
    assert monitor.store.counts().dropped == 0
