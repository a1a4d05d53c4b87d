"""Every use of MLflow's internals, in one place.

MLflow's public API covers almost all of what mlflow-monitor does. Four things it needs are
not public; each is reached only through this module, and each has a contract test
(``tests/unit/test_mlflow_compat.py``) that fails when an MLflow release changes it, so an
upgrade past the ``mlflow==3.17.*`` pin shows at once what to adapt:

- :class:`UnvalidatedPythonModel`: the ``_skip_type_hint_validation`` class attribute, which
  keeps ``PythonModel.__init_subclass__`` from wrapping ``predict`` for type-hint validation.
- :func:`cache_signature`: MLflow's pyfunc wrapper calls ``inspect.signature(predict)`` on
  every predict call; a stored ``__signature__`` is returned without parsing the function.
- :func:`flavor_predict_function`: ``PyFuncModel._predict_fn``, the flavor's own predict
  function that ``PyFuncModel.predict`` calls after validating its input.
- :func:`score_invocation`: ``mlflow.pyfunc.scoring_server.invocations``, the request handling
  behind ``mlflow models serve``'s ``/invocations``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from mlflow.pyfunc.model import PythonModel

__all__ = [
    "UnvalidatedPythonModel",
    "cache_signature",
    "flavor_predict_function",
    "score_invocation",
]

logger = logging.getLogger(__name__)

_F = TypeVar("_F", bound=Callable[..., Any])


class UnvalidatedPythonModel(PythonModel):
    """A ``PythonModel`` whose ``predict`` MLflow does not wrap for type-hint validation.

    A subclass's input schema is a model signature that ``PyFuncModel.predict`` already
    enforces, so the wrapper would only cost time on every call (and warn at import about
    the untyped ``model_input``). MLflow skips it for classes with a true
    ``_skip_type_hint_validation`` attribute, as it does for its own ``ChatModel``.
    """

    _skip_type_hint_validation = True


def cache_signature(function: _F) -> _F:
    """Store ``inspect.signature(function)`` on it, so later calls to ``inspect.signature``
    return it at once (MLflow's pyfunc wrapper asks on every predict call; about 8 us)."""
    function.__signature__ = inspect.signature(function)  # type: ignore[attr-defined]
    return function


def flavor_predict_function(model: Any) -> Callable[..., Any]:
    """The function a loaded ``PyFuncModel``'s ``predict`` ends in, after input validation.

    Calling it directly skips a second round of MLflow's input handling, when the caller has
    already enforced the same signature (the monitored pyfunc's outer model has).

    Args:
        model: a ``mlflow.pyfunc.PyFuncModel``.

    Returns:
        ``model._predict_fn``; ``model.predict`` (correct, slower) when this MLflow has none,
        with a warning.
    """
    function = getattr(model, "_predict_fn", None)
    if callable(function):
        return function  # type: ignore[no-any-return]
    import mlflow

    logger.warning(
        "mlflow %s's PyFuncModel has no _predict_fn; the monitored model calls the inner "
        "model through PyFuncModel.predict, which validates every input twice",
        mlflow.__version__,
    )
    return model.predict  # type: ignore[no-any-return]


def score_invocation(data: Any, content_type: str, model: Any, input_schema: Any) -> Any:
    """Answer an ``/invocations`` request body exactly as ``mlflow models serve`` does.

    Args:
        data: the request body (bytes or text).
        content_type: the request's ``Content-Type`` header.
        model: the loaded ``PyFuncModel``.
        input_schema: its input schema (``model.metadata.get_input_schema()``).

    Returns:
        MLflow's response object, with ``response`` (the body), ``status`` and ``mimetype``.
    """
    from mlflow.pyfunc import scoring_server

    return scoring_server.invocations(  # type: ignore[no-untyped-call]
        data, content_type, model, input_schema
    )
