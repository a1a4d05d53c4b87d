"""Reading predicted labels and probabilities out of whatever a model's ``predict`` returns.

Models return many shapes: a vector of probabilities (the fake-review detector), a vector of
labels, a two-column ``predict_proba`` matrix, or a DataFrame. :func:`interpret_output` turns
each into ``(predictions, probabilities)`` without changing the output itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from mlflow_monitor.exceptions import DataValidationError

__all__ = ["interpret_output"]


def _from_probabilities(
    probabilities: npt.NDArray[np.float64], threshold: float, labels: tuple[Any, Any]
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    positive = probabilities >= threshold
    if labels == (0, 1):  # the usual labels: a cast is cheaper than np.where
        return positive.astype(np.int64), probabilities
    return np.where(positive, labels[1], labels[0]), probabilities


def interpret_output(
    output: Any,
    threshold: float = 0.5,
    labels: tuple[Any, Any] = (0, 1),
    prediction_column: str = "prediction",
    probability_column: str = "probability",
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64] | None]:
    """Split a model output into predicted labels and positive-class probabilities.

    Args:
        output: what the model returned: 1-D probabilities or labels, an ``(n, 2)``
            probability matrix, a Series, or a DataFrame with ``prediction_column`` and/or
            ``probability_column``.
        threshold: probability at or above which the prediction is the positive label.
        labels: ``(negative, positive)`` labels used when only probabilities are returned.
        prediction_column: DataFrame column holding predicted labels.
        probability_column: DataFrame column holding positive-class probabilities.

    Returns:
        ``(predictions, probabilities)``; probabilities are None when the model returns
        labels only.

    Raises:
        DataValidationError: the output has a shape this function cannot read.
    """
    if hasattr(output, "columns"):
        columns = list(output.columns)
        probability = (
            output[probability_column].to_numpy(dtype=np.float64)
            if probability_column in columns
            else None
        )
        if prediction_column in columns:
            return output[prediction_column].to_numpy(), probability
        if probability is not None:
            return _from_probabilities(probability, threshold, labels)
        output = output.to_numpy() if len(columns) != 1 else output[columns[0]].to_numpy()
    array = np.asarray(output)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 2 and array.shape[1] == 2 and array.dtype.kind == "f":
        return _from_probabilities(np.asarray(array[:, 1], dtype=np.float64), threshold, labels)
    if array.ndim != 1:
        raise DataValidationError(
            f"cannot read predictions from a model output of shape {array.shape}; return "
            "1-D labels or probabilities, an (n, 2) probability matrix, or a DataFrame with "
            f"{prediction_column!r}/{probability_column!r} columns"
        )
    if array.dtype.kind == "f":
        finite = array[np.isfinite(array)]
        integral = finite.size == array.size and bool(np.all(finite == np.round(finite)))
        in_unit = bool(np.all((finite >= 0) & (finite <= 1)))
        if in_unit and not integral:
            return _from_probabilities(array.astype(np.float64), threshold, labels)
        if integral:
            return array.astype(np.int64), None
        raise DataValidationError(
            "model output is a float vector outside [0, 1]; regression outputs cannot be "
            "monitored as classifications"
        )
    if array.dtype.kind == "b":
        return array.astype(np.int64), None
    return array, None
