"""The `mlflow-monitor serve` app in-process: MLflow's scoring protocol, the monitoring
endpoints, their errors, the token and the body limit (over real HTTP semantics via httpx)."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlflow_monitor.serving.app import ServeSettings, create_app, load_monitored_model
from mlflow_monitor.store.sql.store import SqlInferenceStore
from tests.support.reviews import make_reviews

TOKEN = "s3cret-token"
MODEL = "app-reviews"
PREFIX = "app_reviews"


@pytest.fixture(scope="module")
def wrapped(app_reviews):
    return app_reviews


@pytest.fixture
def store_uri(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/inference.db"
    monkeypatch.setenv("MLFLOW_MONITOR_STORE_URI", uri)
    return uri


def _client(settings: ServeSettings) -> TestClient:
    """A client of the app; ``client.flush()`` writes the app's queued records."""
    model = load_monitored_model(settings.model_uri, settings.schedule_checks)
    test_client = TestClient(create_app(settings, model))
    test_client.flush = model.unwrap_python_model().monitor.store.flush  # type: ignore[attr-defined]
    return test_client


@pytest.fixture
def client(wrapped, store_uri):
    with _client(ServeSettings(wrapped.uri, token=TOKEN, schedule_checks=False)) as test_client:
        yield test_client


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def _strict_json(text: str) -> object:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _stored(client: TestClient, store_uri: str) -> tuple[int, int]:
    """Predictions and labels in the database, after the app wrote what it queued."""
    assert client.flush(30)  # type: ignore[attr-defined]
    store = SqlInferenceStore(store_uri, model_name=MODEL, model_version="1")
    try:
        counts = store.counts()
        return counts.predictions, counts.labels
    finally:
        store.close()


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


# -- MLflow's scoring protocol ---------------------------------------------------------------


def test_ping_health_and_version(client, wrapped):
    assert client.get("/ping").status_code == 200
    health = client.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["model_uri"] == wrapped.uri
    assert body["store"]["model_name"] == MODEL
    assert client.get("/version").text == mlflow.__version__


@pytest.mark.parametrize("fmt", ["dataframe_split", "dataframe_records", "instances", "inputs"])
def test_invocations_accept_mlflow_payload_formats(client, store_uri, fmt):
    batch = make_reviews(12, seed=4)[["text"]]
    inner = mlflow.pyfunc.load_model(f"models:/{MODEL}/1").predict(batch)
    if fmt == "dataframe_split":
        data: object = batch.to_dict(orient="split")
        data.pop("index")  # type: ignore[attr-defined]
    else:
        data = batch.to_dict(orient="records")
    response = client.post("/invocations", json={fmt: data})
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(np.asarray(response.json()["predictions"]), inner, rtol=1e-12)
    assert _stored(client, store_uri)[0] == 12


def test_invocations_accept_csv(client):
    batch = make_reviews(5, seed=5)[["text"]]
    response = client.post(
        "/invocations", content=batch.to_csv(index=False), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 5


@pytest.mark.parametrize(
    ("body", "content_type", "status", "fragment"),
    [
        (b"{not json", "application/json", 400, "Invalid input"),
        (b'{"rows": []}', "application/json", 400, "dataframe_split"),
        (b'{"dataframe_records": [{"nope": 1}]}', "application/json", 400, "text"),
        (b"text\nhello", "application/xml", 415, "content types"),
    ],
)
def test_invocations_reject_bad_payloads_with_4xx(
    client, store_uri, body, content_type, status, fragment
):
    response = client.post("/invocations", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert fragment in response.text
    assert _stored(client, store_uri) == (0, 0)


# -- /predict -----------------------------------------------------------------------------


def test_predict_one_row_returns_id_label_and_probability(client, store_uri):
    response = client.post("/predict", json={"text": "great product, works as described"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"prediction_id", "prediction", "probability"}
    assert answer["prediction"] in (0, 1)
    assert 0.0 <= answer["probability"] <= 1.0
    assert (answer["probability"] >= 0.5) == (answer["prediction"] == 1)
    assert _stored(client, store_uri)[0] == 1


def test_predict_rows_keep_client_ids_and_match_the_inner_model(client, store_uri):
    batch = make_reviews(8, seed=6)[["text"]]
    rows = [{"text": t, "prediction_id": f"req-{i}"} for i, t in enumerate(batch["text"])]
    response = client.post("/predict", json=rows)
    assert response.status_code == 200, response.text
    answers = response.json()
    assert [a["prediction_id"] for a in answers] == [f"req-{i}" for i in range(8)]
    inner = np.asarray(mlflow.pyfunc.load_model(f"models:/{MODEL}/1").predict(batch), float)
    positive = inner[:, 1] if inner.ndim == 2 else inner
    np.testing.assert_allclose([a["probability"] for a in answers], positive, rtol=1e-12)
    feedback = client.post(
        "/monitoring/feedback",
        json={"prediction_id": "req-3", "true_label": 1},
        headers=_auth(),
    )
    assert feedback.status_code == 200, feedback.text
    assert _stored(client, store_uri) == (8, 1)


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ([], 422),  # nothing to predict
        ([{"text": "a", "prediction_id": "x"}, {"text": "b"}], 422),  # ids for some rows
        ({"review": "wrong column"}, 400),  # the model's schema wants "text"
        ("just a string", 422),
        ([1, 2, 3], 422),
    ],
)
def test_predict_rejects_bad_rows_with_4xx(client, store_uri, payload, status):
    response = client.post("/predict", json=payload)
    assert response.status_code == status, response.text
    assert response.json().get("message") or response.json().get("detail")
    assert _stored(client, store_uri) == (0, 0)


# -- feedback, token, trigger -----------------------------------------------------------


def _predict_ids(client, n: int) -> list[str]:
    rows = [{"text": t} for t in make_reviews(n, seed=7)["text"]]
    return [a["prediction_id"] for a in client.post("/predict", json=rows).json()]


def test_feedback_requires_the_token(client, store_uri):
    (pid,) = _predict_ids(client, 1)
    payload = {"prediction_id": pid, "true_label": 1}
    missing = client.post("/monitoring/feedback", json=payload)
    wrong = client.post(
        "/monitoring/feedback", json=payload, headers={"Authorization": "Bearer guess"}
    )
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert _stored(client, store_uri) == (1, 0)
    assert client.post("/monitoring/feedback", json=payload, headers=_auth()).status_code == 200


def test_feedback_errors_are_4xx_and_change_nothing(client, store_uri):
    (pid,) = _predict_ids(client, 1)
    unknown = client.post(
        "/monitoring/feedback", json={"prediction_id": "never", "true_label": 1}, headers=_auth()
    )
    assert unknown.status_code == 404
    assert "never" in unknown.json()["message"]
    for bad_label in (True, 1.5, None, [1]):
        response = client.post(
            "/monitoring/feedback",
            json={"prediction_id": pid, "true_label": bad_label},
            headers=_auth(),
        )
        assert response.status_code == 422, (bad_label, response.text)
        assert "true_label" in response.json()["message"]
    assert _stored(client, store_uri) == (1, 0)
    ok = client.post(
        "/monitoring/feedback", json={"prediction_id": pid, "true_label": 0}, headers=_auth()
    )
    again = client.post(
        "/monitoring/feedback", json={"prediction_id": pid, "true_label": 1}, headers=_auth()
    )
    assert ok.status_code == 200
    assert again.status_code == 409
    assert "already" in again.json()["message"]
    assert _stored(client, store_uri) == (1, 1)


def test_feedback_batch_records_what_it_can_and_lists_the_rest(client, store_uri):
    ids = _predict_ids(client, 5)
    items = [{"prediction_id": pid, "true_label": i % 2} for i, pid in enumerate(ids)]
    items.insert(2, {"prediction_id": "ghost", "true_label": 1})
    items.append({"prediction_id": ids[0], "true_label": 1})  # second label for the same id
    response = client.post("/monitoring/feedback", json={"feedback": items}, headers=_auth())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["recorded"] == 5
    assert [(r["index"], r["status"]) for r in body["rejected"]] == [(2, 404), (6, 409)]
    assert _stored(client, store_uri) == (5, 5)
    metrics = client.get("/metrics").text
    assert _metric(metrics, f"{PREFIX}_feedback_total") == 5


def test_trigger_retraining_needs_the_token_and_is_recorded(client):
    denied = client.post("/monitoring/trigger-retraining", json={"reason": "manual"})
    assert denied.status_code == 401
    response = client.post(
        "/monitoring/trigger-retraining",
        json={"reason": "new data", "details": {"ticket": "OPS-1"}},
        headers=_auth(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["reason"] == "new data"
    status = _strict_json(client.get("/monitoring/status").text)
    history = status["triggers"]["history"]  # type: ignore[index]
    assert [e["reason"] for e in history] == ["new data"]
    assert history[0]["details"] == {"ticket": "OPS-1"}
    assert _metric(client.get("/metrics").text, f"{PREFIX}_retraining_triggered_total") == 1


def test_no_token_configured_means_open_feedback(wrapped, store_uri):
    with _client(ServeSettings(wrapped.uri, schedule_checks=False)) as open_client:
        (pid,) = _predict_ids(open_client, 1)
        response = open_client.post(
            "/monitoring/feedback", json={"prediction_id": pid, "true_label": 1}
        )
        assert response.status_code == 200


# -- status, metrics, limits ------------------------------------------------------------------


def test_status_is_strict_json_before_any_check(client):
    response = client.get("/monitoring/status")
    assert response.status_code == 200
    status = _strict_json(response.text)
    assert status["store"]["model_name"] == MODEL  # type: ignore[index]
    assert status["drift"]["last_check"] is None  # type: ignore[index]


def test_bodies_over_the_limit_get_413(wrapped, store_uri):
    settings = ServeSettings(wrapped.uri, max_body_bytes=2048, schedule_checks=False)
    with _client(settings) as small:
        big = {"text": "x" * 4096}
        declared = small.post("/predict", json=big)
        assert declared.status_code == 413
        assert "2048" in declared.json()["message"]

        def chunks():  # no Content-Length: the limit applies while streaming
            for _ in range(8):
                yield b"x" * 1024

        streamed = small.post(
            "/invocations", content=chunks(), headers={"Content-Type": "text/csv"}
        )
        assert streamed.status_code == 413
        assert small.post("/predict", json={"text": "short"}).status_code == 200
        assert _stored(small, store_uri)[0] == 1


def test_a_model_that_is_not_monitored_is_refused(embedded_tracking):
    from mlflow_monitor.exceptions import ConfigError

    with pytest.raises(ConfigError, match="not a monitored model"):
        create_app(ServeSettings(f"models:/{MODEL}/1"))


def test_settings_refuse_bad_values():
    from mlflow_monitor.exceptions import ConfigError

    with pytest.raises(ConfigError, match="max_body_bytes"):
        ServeSettings("models:/m/1", max_body_bytes=0)
    with pytest.raises(ConfigError, match="MLFLOW_MONITOR_TOKEN"):
        ServeSettings("models:/m/1", token="  ")


def test_openapi_schema_lists_the_endpoints(client):
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {
        "/invocations",
        "/predict",
        "/ping",
        "/health",
        "/metrics",
        "/monitoring/status",
        "/monitoring/feedback",
        "/monitoring/metrics",
        "/monitoring/trigger-retraining",
    } <= paths


def test_recorded_rows_are_the_posted_inputs(client, store_uri):
    rows = [{"text": "first review"}, {"text": "second review"}]
    client.post("/predict", json=rows)
    assert client.flush(30)  # type: ignore[attr-defined]
    store = SqlInferenceStore(store_uri, model_name=MODEL, model_version="1")
    try:
        taken = store.take_features(1, 10)
    finally:
        store.close()
    assert taken is not None
    # Rows are kept as dicts, or as lists in the model's input column order ("text" only).
    texts = [row["text"] if isinstance(row, dict) else row[0] for row in taken]
    assert texts == ["first review", "second review"]


def test_serve_command_refuses_a_model_that_is_not_monitored(wrapped, runner):
    from mlflow_monitor.cli import cli

    for workers in ("1", "2"):
        result = runner.invoke(cli, ["serve", f"models:/{MODEL}/1", "--workers", workers])
        assert result.exit_code == 2, result.output
        assert "not a monitored model" in result.output


@pytest.mark.parametrize(
    "ids",
    [["same", "same"], ["x" * 256, "y"], [{"a": 1}, "b"], ["", "b"]],
    ids=["repeated", "too-long", "not-a-string", "empty"],
)
def test_predict_refuses_ids_it_could_not_record(client, store_uri, ids):
    """Every id /predict answers is recorded: ids the store would refuse are a 422."""
    rows = [{"text": t, "prediction_id": pid} for t, pid in zip(["a", "b"], ids, strict=True)]
    response = client.post("/predict", json=rows)
    assert response.status_code == 422, response.text
    assert "prediction_id" in response.json()["message"]
    assert _stored(client, store_uri) == (0, 0)


@pytest.mark.parametrize("text", [None, ["a"], {"a": 1}], ids=["null", "list", "object"])
def test_predict_input_the_model_fails_on_is_a_4xx(client, store_uri, text):
    response = client.post("/predict", json={"text": text})
    assert response.status_code == 422, response.text
    assert "the model failed on this input" in response.json()["message"]
    assert _stored(client, store_uri) == (0, 0)
