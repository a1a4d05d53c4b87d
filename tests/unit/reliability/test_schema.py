"""schemathesis against the serve app's own OpenAPI schema: whatever a client sends to any
endpoint, within the schema or not, the app answers without a server error (5xx), with JSON
errors, and never crashes. Examples are bounded so the module runs in well under a minute.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
)

from tests.support.serve_app import app_client, post_json_text, serve_app

TOKEN = "schema-token"
MODEL = "schema-reviews"


@pytest.fixture(scope="module")
def wrapped(embedded_tracking):
    from tests.support.reviews import wrap_example

    return wrap_example(MODEL, {"metrics_prefix": "schema_reviews"})


@pytest.fixture(scope="module")
def app(wrapped, tmp_path_factory):
    store_uri = f"sqlite:///{tmp_path_factory.mktemp('schema')}/inference.db"
    app, model = serve_app(wrapped.uri, store_uri, token=TOKEN)
    yield app
    model.unwrap_python_model().monitor.close()


@pytest.fixture(scope="module")
def api_schema(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app)


BOUNDED = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,  # the same requests on every run
    suppress_health_check=list(HealthCheck),
)


def _operations(api_schema) -> list:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9, "the schema lost endpoints"
    return operations


def _fuzz(operation, headers: dict[str, str], mode: GenerationMode) -> None:
    checks = [not_a_server_error, content_type_conformance]
    if mode is GenerationMode.NEGATIVE:
        checks.append(negative_data_rejection)  # refused with a 4xx, not accepted

    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        response = case.call_and_validate(headers=headers, checks=checks)
        if response.status_code >= 400 and operation.path != "/invocations":
            # /invocations answers as MLflow's scoring server does (a 415 is plain text)
            body = response.json()
            assert body.get("message") or body.get("detail"), response.text

    try:
        run()
    except Unsatisfiable:
        # Nothing to get wrong: an operation without parameters or body has no negative case.
        assert mode is GenerationMode.NEGATIVE


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
@pytest.mark.parametrize("authorized", [True, False], ids=["token", "no-token"])
def test_no_server_errors(api_schema, authorized, mode):
    """Positive: requests the schema allows; negative: requests it forbids (bad types,
    missing fields), which must be refused with a 4xx."""
    headers = {"Authorization": f"Bearer {TOKEN}"} if authorized else {}
    for operation in _operations(api_schema):
        _fuzz(operation, headers, mode)


ODD_TEXTS = [None, 1, 1.5, True, [], ["a"], {"a": 1}, "", "x" * 100_000, "\x00\ud7ff", "NaN"]


@pytest.mark.parametrize("text", ODD_TEXTS, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("path", ["/predict", "/invocations"])
def test_odd_values_for_the_model_input_are_4xx_or_answered(app, path, text):
    """The schema says little about the model's own input columns, so schemathesis rarely
    reaches the model: these values of its ``text`` column do."""
    from fastapi.testclient import TestClient

    rows = [{"text": text}]
    body = rows if path == "/predict" else {"dataframe_records": rows}
    response = TestClient(app).post(path, json=body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json().get("message"), response.text


# -- unencodable text, huge ids and huge batches (issue #16) --------------------------------

# Text no store can keep, and ids past the limit, beside ordinary text.
NASTY = st.one_of(
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3),  # lone surrogates
    st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=4), st.text(max_size=4)),
    st.text(min_size=256, max_size=300),
    st.just("x" * 1_000_000),
    st.text(max_size=8),
)


def _dropped(app_client) -> float:
    metrics = app_client.get("/metrics").text
    return sum(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("schema_reviews_records_dropped_total")
    )


@BOUNDED
@given(
    value=NASTY,
    other=NASTY,
    endpoint=st.sampled_from(["predict", "invocations", "feedback", "batch", "trigger"]),
)
def _no_server_error_for_unstorable_text(client, value, other, endpoint) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body: object
    path = {"batch": "/monitoring/feedback", "feedback": "/monitoring/feedback"}.get(
        endpoint, f"/{endpoint}"
    )
    if endpoint == "predict":
        body = [{"text": "fine", "prediction_id": value}, {"text": other, "prediction_id": "n"}]
    elif endpoint == "invocations":
        body = {"dataframe_records": [{"text": "fine", "prediction_id": value}]}
    elif endpoint == "feedback":
        body = {"prediction_id": value, "true_label": other}
    elif endpoint == "batch":
        body = {"feedback": [{"prediction_id": value, "true_label": 1}] * 3}
    else:
        path = "/monitoring/trigger-retraining"
        body = {"reason": value[:200] or "r", "details": {other[:50]: value}}
    response = post_json_text(client, path, body, auth)
    assert response.status_code < 500, (endpoint, response.text[:300])
    if response.status_code >= 400 and path != "/invocations":
        assert response.json().get("message"), response.text[:300]
    for probe in ("/monitoring/status", "/health"):
        answer = client.get(probe)
        assert answer.status_code == 200, (probe, answer.text[:300])


def test_unstorable_text_huge_ids_never_cost_a_server_error_or_a_row(wrapped, tmp_path):
    """Hypothesis over every endpoint with lone surrogates, NUL characters, ids of 256 to
    300 characters and of 1 MB: 4xx or answered, the status keeps answering, and nothing
    the app answered is dropped by the store. An app of its own, run inside its lifespan:
    the module's app has been shut down by schemathesis' runs, and a closed monitor drops
    (and counts) what it is given."""
    store_uri = f"sqlite:///{tmp_path}/inference.db"
    with app_client(wrapped.uri, store_uri, token=TOKEN) as client:
        _no_server_error_for_unstorable_text(client)
        client.get("/monitoring/status")  # writes the queue first (a read flushes)
        assert _dropped(client) == 0


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/predict", [{"text": "a"}] * 10_001, 413),
        ("/invocations", {"dataframe_records": [{"text": "a"}] * 10_001}, 400),
        (
            "/monitoring/feedback",
            {"feedback": [{"prediction_id": "p", "true_label": 1}] * 10_001},
            422,
        ),
        (
            "/predict",
            [{"text": "a", "prediction_id": f"big-{i}"} for i in range(4_999)]
            + [{"text": "a", "prediction_id": "\ud800"}]
            + [{"text": "a", "prediction_id": f"big-{i}"} for i in range(5_000, 9_999)],
            422,
        ),
    ],
    ids=["predict-10001", "invocations-10001", "feedback-10001", "predict-9999-one-surrogate"],
)
def test_huge_batches_are_refused_whole_and_cost_nothing(app, path, body, status):
    from fastapi.testclient import TestClient

    client = TestClient(app)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    held = client.get("/monitoring/status").json()["store"]["predictions"]
    response = post_json_text(client, path, body, auth)
    assert response.status_code == status, response.text[:300]
    assert len(response.content) < 5000  # an error message, not an echo of the request
    assert client.get("/monitoring/status").json()["store"]["predictions"] == held
