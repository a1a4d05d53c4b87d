"""Contract tests of the MLflow internals mlflow-monitor relies on (``_mlflow_compat``).

Each test fails when an MLflow release changes the behaviour the compat module depends on, so
an upgrade past the ``mlflow==3.17.*`` pin shows at once what to adapt.
"""

from __future__ import annotations

import inspect

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc.model import PythonModel

from mlflow_monitor import _mlflow_compat as compat


class _Doubler(compat.UnvalidatedPythonModel):
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return np.asarray(model_input["x"]) * 2


@pytest.fixture
def doubler(tmp_path):
    """A plain PythonModel saved and loaded by MLflow (a PyFuncModel)."""
    path = tmp_path / "doubler"
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    mlflow.pyfunc.save_model(
        str(path), python_model=_Doubler(), input_example=frame, pip_requirements=[]
    )
    return mlflow.pyfunc.load_model(str(path))


def test_skip_type_hint_validation_keeps_predict_unwrapped():
    """MLflow wraps a subclass's predict for type-hint validation unless the class sets
    ``_skip_type_hint_validation``; the compat base class sets it for its subclasses."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return model_input

    with pytest.warns(UserWarning, match="type hints"):  # MLflow's advice, when it wraps
        plain = type("Plain", (PythonModel,), {"predict": predict, "__module__": __name__})
    skipped = type(
        "Skipped", (compat.UnvalidatedPythonModel,), {"predict": predict, "__module__": __name__}
    )
    assert plain.__dict__["predict"] is not predict  # MLflow wrapped it
    assert skipped.__dict__["predict"] is predict  # left alone


def test_mlflow_reads_the_predict_signature_through_inspect(doubler):
    """MLflow's PythonModel wrapper decides whether to pass ``params`` from
    ``inspect.signature(predict)`` on every call, so a cached signature is what it sees."""
    wrapper = doubler._model_impl
    seen: list[object] = []

    def predict(context, model_input, params=None):  # type: ignore[no-untyped-def]
        seen.append(params)
        return model_input

    # a signature without `params`: MLflow must then call predict without it
    predict.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            inspect.Parameter("model_input", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ]
    )
    wrapper.python_model.predict = predict
    wrapper.predict(pd.DataFrame({"x": [1.0]}), params={"k": 1})
    assert seen == [None]


def test_cache_signature_returns_the_same_signature():
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return model_input

    expected = inspect.signature(predict)
    cached = compat.cache_signature(predict)
    assert cached is predict and inspect.signature(predict) == expected
    assert predict.__signature__ == expected  # type: ignore[attr-defined]


def test_predict_fn_is_what_pyfunc_predict_calls(doubler):
    """``PyFuncModel.predict`` validates its input, then calls ``_predict_fn``."""
    function = compat.flavor_predict_function(doubler)
    assert function is doubler._predict_fn
    calls: list[object] = []

    def recording(data, params=None):  # type: ignore[no-untyped-def]
        calls.append(data)
        return function(data, params=params)

    doubler._predict_fn = recording
    output = doubler.predict(pd.DataFrame({"x": [1.0, 3.0]}))
    assert len(calls) == 1
    np.testing.assert_array_equal(output, [2.0, 6.0])


def test_a_missing_predict_fn_falls_back_to_predict_with_a_warning(caplog):
    class Loaded:
        def predict(self, data):  # type: ignore[no-untyped-def]
            return data

    model = Loaded()
    with caplog.at_level("WARNING", logger="mlflow_monitor._mlflow_compat"):
        assert compat.flavor_predict_function(model) == model.predict
    assert "has no _predict_fn" in caplog.text


def test_scoring_server_invocations_keeps_its_signature_and_answer(doubler):
    from mlflow.pyfunc import scoring_server

    names = list(inspect.signature(scoring_server.invocations).parameters)
    assert names == ["data", "content_type", "model", "input_schema"]
    body = '{"dataframe_split": {"columns": ["x"], "data": [[1.5], [4.0]]}}'
    answer = compat.score_invocation(
        body, "application/json", doubler, doubler.metadata.get_input_schema()
    )
    assert answer.status == 200 and answer.mimetype == "application/json"
    assert '"predictions": [3.0, 8.0]' in answer.response
    refused = compat.score_invocation(
        body, "application/json; charset=latin-1", doubler, doubler.metadata.get_input_schema()
    )
    assert refused.status == 415
