"""Reading predicted labels and probabilities out of whatever a model's ``predict`` returns.

Models return many shapes: a vector of probabilities (the fake-review detector), a vector of
labels, a two-column ``predict_proba`` matrix, a matrix of class probabilities, a vector of
predicted values, or a DataFrame. :func:`interpret_output` turns each into ``(predictions,
probabilities)`` for the monitor's task without changing the output itself, and
:func:`infer_task` says which task an output looks like.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from mlflow_monitor.exceptions import DataValidationError

__all__ = ["class_probability_matrix", "infer_task", "interpret_output"]


def _from_probabilities(
    probabilities: npt.NDArray[np.float64], threshold: float, labels: tuple[Any, Any]
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    positive = probabilities >= threshold
    if labels == (0, 1):  # the usual labels: a cast is cheaper than np.where
        return positive.astype(np.int64), probabilities
    return np.where(positive, labels[1], labels[0]), probabilities


def _main_column(output: Any, prediction_column: str, probability_column: str) -> Any:
    """The output as one array: a DataFrame's prediction (or probability) column, or its
    values; anything else as an array, a one-column matrix as a vector."""
    if hasattr(output, "columns"):
        columns = list(output.columns)
        if prediction_column in columns:
            return output[prediction_column].to_numpy()
        if probability_column in columns:
            return output[probability_column].to_numpy(dtype=np.float64)
        output = output.to_numpy() if len(columns) != 1 else output[columns[0]].to_numpy()
    array = np.asarray(output)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    return array


def infer_task(
    output: Any, prediction_column: str = "prediction", probability_column: str = "probability"
) -> str:
    """The task a model's output on the reference looks like.

    An ``(n, k)`` probability matrix is binary for ``k == 2`` and multiclass above; a vector
    of probabilities (floats in [0, 1], not all whole) is binary; other non-whole floats are
    regression; labels (ints, strings, bools, whole floats) are binary with at most two
    distinct values and multiclass with more.

    Raises:
        DataValidationError: an output of a shape no task reads.
    """
    array = _main_column(output, prediction_column, probability_column)
    if array.ndim == 2 and array.dtype.kind == "f":
        return "binary" if array.shape[1] == 2 else "multiclass"
    if array.ndim != 1:
        raise DataValidationError(
            f"cannot infer the task from a model output of shape {array.shape}; pass task="
        )
    if array.dtype.kind == "f":
        finite = array[np.isfinite(array)]
        integral = bool(np.all(finite == np.round(finite)))
        if not integral:
            in_unit = bool(np.all((finite >= 0) & (finite <= 1)))
            return "binary" if in_unit else "regression"
    distinct = len(set(array.tolist()))
    return "binary" if distinct <= 2 else "multiclass"


def interpret_output(
    output: Any,
    threshold: float = 0.5,
    labels: tuple[Any, Any] = (0, 1),
    prediction_column: str = "prediction",
    probability_column: str = "probability",
    task: str = "binary",
    classes: tuple[Any, ...] = (),
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
        task: the monitor's task. ``"regression"`` reads predicted values (1-D, or a
            DataFrame's ``prediction_column``); ``"multiclass"`` reads labels, or an ``(n, k)``
            probability matrix as the most probable class (``classes[i]`` for column ``i``,
            else ``i``) and its probability.
        classes: the multiclass model's classes, in the order of its probability columns.

    Returns:
        ``(predictions, probabilities)``; probabilities are None when the model returns
        labels only.

    Raises:
        DataValidationError: the output has a shape this function cannot read.
    """
    if task == "regression":
        return _regression_output(output, prediction_column, probability_column), None
    if task == "multiclass":
        return _multiclass_output(output, prediction_column, probability_column, classes)
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


def class_probability_matrix(
    output: Any, prediction_column: str = "prediction", probability_column: str = "probability"
) -> npt.NDArray[np.float64] | None:
    """A multiclass model output's ``(n, k)`` matrix of class probabilities (columns in the
    order of the model's classes), or None when the output gives labels or one probability
    per row."""
    if hasattr(output, "columns") and prediction_column in output.columns:
        return None
    array = _main_column(output, prediction_column, probability_column)
    if array.ndim == 2 and array.dtype.kind == "f" and array.shape[1] >= 2:
        return np.asarray(array, dtype=np.float64)
    return None


def _regression_output(output: Any, prediction_column: str, probability_column: str) -> Any:
    array = _main_column(output, prediction_column, probability_column)
    if array.ndim != 1 or array.dtype.kind not in "fiub":
        raise DataValidationError(
            f"a regression model must return one number per row, got an output of shape "
            f"{array.shape} and dtype {array.dtype}"
        )
    return array.astype(np.float64)


def _multiclass_output(
    output: Any, prediction_column: str, probability_column: str, classes: tuple[Any, ...]
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64] | None]:
    if hasattr(output, "columns") and prediction_column in output.columns:
        probability = (
            output[probability_column].to_numpy(dtype=np.float64)
            if probability_column in output.columns
            else None
        )
        return output[prediction_column].to_numpy(), probability
    array = _main_column(output, prediction_column, probability_column)
    if array.ndim == 2 and array.dtype.kind == "f":
        best = array.argmax(axis=1)
        probability = array[np.arange(len(array)), best].astype(np.float64)
        if len(classes) == array.shape[1]:
            return np.asarray(classes, dtype=object)[best], probability
        return best.astype(np.int64), probability
    if array.ndim != 1:
        raise DataValidationError(
            f"cannot read class labels from a model output of shape {array.shape}; return "
            "1-D labels, an (n, k) probability matrix, or a DataFrame with a "
            f"{prediction_column!r} column"
        )
    if array.dtype.kind == "f":
        return _integral_labels(array), None
    if array.dtype.kind == "b":
        return array.astype(np.int64), None
    return array, None


def _integral_labels(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    finite = np.isfinite(array).all()
    if finite and bool(np.all(array == np.round(array))):
        return array.astype(np.int64)
    raise DataValidationError(
        "a multiclass model returned floats that are not whole numbers; return class labels "
        "or a probability matrix, or monitor it with task='regression'"
    )
