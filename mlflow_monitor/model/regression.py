"""What ``wrap`` keeps of a regression model's outputs on a labelled reference: the predicted
values and the true ones, from which the monitor fits the loss models that estimate MAE and
RMSE before labels arrive, and the baseline metrics they give."""

from __future__ import annotations

import logging
from typing import Any

from mlflow_monitor._types import as_target
from mlflow_monitor.exceptions import DataValidationError

__all__ = ["regression_estimation_reference"]

logger = logging.getLogger(__name__)


def regression_estimation_reference(inner: Any, reference: Any, truth: list[Any]) -> dict[str, Any]:
    """The inner model's predictions on the labelled reference, the true values, and the
    baseline metrics they give (key ``baseline``: ``mae``, ``rmse``, ``r2``, ``mape``).

    Raises:
        DataValidationError: true values that are not finite numbers, or not one
            prediction per reference row.
    """
    from mlflow_monitor.model.outputs import interpret_output
    from mlflow_monitor.performance.tasks import task_metrics

    targets = [as_target(value, "reference label") for value in truth]
    logger.info("predicting %d labelled reference rows for the estimation", len(reference))
    predicted, _ = interpret_output(inner.predict(reference), task="regression")
    predictions = [float(v) for v in predicted]
    if len(predictions) != len(targets):
        raise DataValidationError(
            f"the model gave {len(predictions)} predictions for {len(targets)} reference rows"
        )
    baseline, _ = task_metrics("regression", predictions, targets)
    return {
        "predictions": predictions,
        "labels": targets,
        "baseline": {k: round(v, 6) for k, v in baseline.items()},
    }
