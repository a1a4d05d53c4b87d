"""schemathesis against the serve app's own OpenAPI schema: whatever a client sends to any
endpoint, within the schema or not, the app answers without a server error (5xx), with JSON
errors, and never crashes. Examples are bounded so the module runs in well under a minute.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
)

from mlflow_monitor.serving.app import ServeSettings, create_app, load_monitored_model

TOKEN = "schema-token"
MODEL = "schema-reviews"


@pytest.fixture(scope="module")
def wrapped(embedded_tracking):
    from tests.support.reviews import wrap_example

    return wrap_example(MODEL, {"metrics_prefix": "schema_reviews"})


@pytest.fixture(scope="module")
def app(wrapped, tmp_path_factory):
    store_uri = f"sqlite:///{tmp_path_factory.mktemp('schema')}/inference.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_MONITOR_STORE_URI", store_uri)
        model = load_monitored_model(wrapped.uri, schedule_checks=False)
    yield create_app(ServeSettings(wrapped.uri, token=TOKEN, schedule_checks=False), model)
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
