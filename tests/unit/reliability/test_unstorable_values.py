"""Values no store can keep (a lone UTF-16 surrogate, a NUL character, a duplicate or over-long
id) never cost anyone else's data: the serve app refuses them at the door with a 4xx, and the
SQL writer, should one reach it, drops that row alone and counts it.

Issue #16, defects 1, 2 and 4; see docs/reliability.md.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_monitor.store.interface import PredictionBatch
from mlflow_monitor.store.sql.store import SqlInferenceStore
from tests.support.serve_app import app_client, post_json_text
from tests.support.streams import stored_predictions

MODEL = "app-reviews"
PREFIX = "app_reviews"
SURROGATE = "\ud800"


@pytest.fixture
def store_uri(tmp_path):
    return f"sqlite:///{tmp_path}/inference.db"


@pytest.fixture
def client(app_reviews, store_uri):
    with app_client(app_reviews.uri, store_uri) as client:
        yield client


def _stored_ids(store_uri: str, model: str = MODEL) -> set[str]:
    return {row.prediction_id for row in stored_predictions(store_uri, model)}


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def _predict_fine(client, prediction_id: str):
    return post_json_text(client, "/predict", {"text": "fine", "prediction_id": prediction_id})


def _invocations(client, records: list[dict[str, object]]):
    return post_json_text(client, "/invocations", {"dataframe_records": records})


# -- defect 1: one bad id must not destroy its neighbours ------------------------------------


@pytest.mark.parametrize(
    "bad_id",
    [SURROGATE, f"a{SURROGATE}b", "nul\x00id"],
    ids=["surrogate", "inner-surrogate", "nul"],
)
@pytest.mark.parametrize("path", ["/predict", "/invocations"])
def test_unstorable_ids_are_refused_and_others_are_kept(client, store_uri, path, bad_id):
    good = [f"good-{i}" for i in range(5)]
    for pid in good[:3]:
        assert _predict_fine(client, pid).status_code == 200
    if path == "/predict":
        answer = post_json_text(client, path, {"text": "bad", "prediction_id": bad_id})
        assert answer.status_code == 422, answer.text
    else:
        answer = _invocations(client, [{"text": "bad", "prediction_id": bad_id}])
        assert answer.status_code == 400, answer.text
    assert "prediction_id" in answer.text
    for pid in good[3:]:
        assert _predict_fine(client, pid).status_code == 200
    assert client.flush(30)
    assert _stored_ids(store_uri) == set(good)


def test_feedback_for_an_unstorable_id_is_a_4xx(client):
    answer = post_json_text(
        client, "/monitoring/feedback", {"prediction_id": SURROGATE, "true_label": 1}
    )
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize("bad_id", [SURROGATE, "nul\x00id"], ids=["surrogate", "nul"])
def test_the_writer_drops_only_the_row_it_cannot_store(tmp_path, bad_id):
    """Past the door (a library caller that skips validation): the bad row is isolated."""
    uri = f"sqlite:///{tmp_path}/writer.db"
    store = SqlInferenceStore(uri, model_name="m", model_version="1", flush_seconds=60)
    try:
        ids = [f"ok-{i}" for i in range(40)]
        ids[17] = bad_id

        def batch(chunk: list[str]) -> PredictionBatch:
            n = len(chunk)
            return PredictionBatch(chunk, [1] * n, [0.5] * n, None, np.zeros((n, 2)))

        for start in range(0, 40, 8):  # five requests, written in one transaction
            store.add(batch(ids[start : start + 8]))
        assert store.flush(30)
        stored = _stored_ids(uri, "m")
        if "\x00" in bad_id:  # SQLite keeps a NUL; PostgreSQL refuses it (the integration test)
            assert stored == set(ids)
        else:
            assert stored == set(ids) - {bad_id}
            assert store.counts().dropped == 1
    finally:
        store.close()


# -- defect 2: an unencodable trigger must not poison the status ------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"reason": "manual", "details": {"k": "\udfff"}},
        {"reason": "manual", "details": {"\udfff": 1}},
        {"reason": f"why{SURROGATE}", "details": {}},
    ],
    ids=["value", "key", "reason"],
)
def test_an_unstorable_trigger_is_refused_and_status_keeps_answering(client, payload):
    answer = post_json_text(client, "/monitoring/trigger-retraining", payload)
    assert answer.status_code == 422, answer.text
    status = client.get("/monitoring/status")
    assert status.status_code == 200, status.text
    assert status.json()["triggers"]["total"] == 0


def test_a_stored_trigger_with_a_surrogate_is_still_answered(client, store_uri):
    """A row an older version kept: /monitoring/status escapes it instead of failing."""
    store = SqlInferenceStore(store_uri, model_name=MODEL, model_version="1")
    try:
        store.record_trigger(
            {
                "reason": "manual",
                "details": {"k": "\udfff"},
                "timestamp": "2026-01-01T00:00:00+00:00",
                "fired": True,
                "callback_errors": [],
                "retrain_run_id": None,
                "retrain_status": None,
            }
        )
    finally:
        store.close()
    status = client.get("/monitoring/status")
    assert status.status_code == 200, status.text
    assert "\\udfff" in status.text


# -- defect 4: /invocations with a prediction_id column stores or visibly refuses every row ---


@pytest.mark.parametrize(
    "ids",
    [["dup", "dup"], ["x" * 1_000_000], [None], ["ok", None]],
    ids=["duplicate", "one-megabyte", "null", "some-null"],
)
def test_invocations_refuses_ids_it_could_not_store(client, store_uri, ids):
    records = [{"text": "fine", "prediction_id": pid} for pid in ids]
    answer = _invocations(client, records)
    assert answer.status_code == 400, answer.text[:500]
    assert client.flush(30)
    assert _stored_ids(store_uri) == set()  # never a null id stored as "None"


def test_an_id_already_stored_is_counted_rejected(client, store_uri):
    assert _invocations(client, [{"text": "fine", "prediction_id": "once"}]).status_code == 200
    assert client.flush(30)
    assert _invocations(client, [{"text": "again", "prediction_id": "once"}]).status_code == 200
    assert client.flush(30)
    metrics = client.get("/metrics").text
    assert _metric(metrics, f"{PREFIX}_predictions_total") == 2
    assert _metric(metrics, f"{PREFIX}_records_rejected_total") == 1
    assert client.get("/monitoring/status").json()["store"]["rejected"] == 1


# -- the store's SQLite file deleted while serving --------------------------------------------


def test_a_deleted_store_file_is_reported_and_its_losses_counted(client, store_uri, tmp_path):
    """Issue #16: SQLite writes on into the deleted inode; the loss must show."""
    for i in range(3):
        assert _predict_fine(client, f"b{i}").status_code == 200
    assert client.flush(30)
    assert client.get("/health").status_code == 200
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"inference.db{suffix}").unlink(missing_ok=True)
    for i in range(5):
        assert _predict_fine(client, f"a{i}").status_code == 200
    assert client.flush(30)
    health = client.get("/health")
    assert health.status_code == 503, health.text
    assert health.json()["status"] == "store_file_lost"
    assert "deleted" in health.json()["message"]
    metrics = client.get("/metrics").text
    assert _metric(metrics, f"{PREFIX}_store_file_lost") == 1
    assert _metric(metrics, f"{PREFIX}_records_dropped_total") == 5
