"""The wrapped (inner) model: loading it, its flavor's own object, calling it cheaply."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from mlflow_monitor._mlflow_compat import flavor_predict_function

__all__ = ["InnerModel", "raw_model_of"]


def raw_model_of(inner: Any) -> Any:
    """The flavor's own model object behind a PyFuncModel (e.g. a sklearn Pipeline), or None."""
    try:
        return inner.get_raw_model()
    except Exception:
        return None


class InnerModel:
    """A loaded inner pyfunc model, called through its flavor's predict function.

    The monitored model's own signature is the inner model's (plus an optional id column),
    and MLflow has enforced it before the monitored ``predict`` runs, so the inner model is
    called without a second round of input validation
    (:func:`~mlflow_monitor._mlflow_compat.flavor_predict_function`).

    Args:
        location: where the inner model is: the embedded artifact directory or a
            ``models:/name/version`` URI.
    """

    def __init__(self, location: str) -> None:
        import mlflow

        # The outer model's requirements include the inner model's (see wrap) and MLflow has
        # just checked them against the environment; checking again per load
        # (importlib.metadata for every line) would double that part of the load time.
        self.model = mlflow.pyfunc.load_model(location, suppress_warnings=True)
        self._predict: Callable[..., Any] = flavor_predict_function(self.model)
        accepts = inspect.signature(self._predict).parameters.get("params")
        self._takes_params = bool(accepts and accepts.kind != accepts.VAR_KEYWORD)
        self.raw = raw_model_of(self.model)

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        """The inner model's output for ``model_input`` (``params`` where it takes them)."""
        if self._takes_params:
            return self._predict(model_input, params=params or None)
        return self._predict(model_input)
