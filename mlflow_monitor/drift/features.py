"""Turning what users pass as features into validated numeric matrices.

Accepts numpy arrays, nested lists, pandas DataFrames/Series and dicts of feature name to
value. Everything becomes a 2-D float64 array of finite values (or, with ``allow_missing``,
NaN for a missing value); anything else raises
:class:`~mlflow_monitor.exceptions.DataValidationError` naming what was wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from mlflow_monitor._types import FloatArray
from mlflow_monitor.exceptions import DataValidationError

__all__ = ["as_feature_matrix", "as_feature_row", "feature_names_of"]


def feature_names_of(data: Any) -> list[str] | None:
    """Column names of a DataFrame (or keys of a dict), None for unnamed data."""
    columns = getattr(data, "columns", None)
    if columns is not None:
        return [str(c) for c in columns]
    if isinstance(data, Mapping):
        return [str(k) for k in data]
    return None


def _to_float(data: Any, what: str) -> FloatArray:
    if hasattr(data, "to_numpy"):
        data = data.to_numpy()
    try:
        if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
            return np.asarray(data, dtype=np.float64)
        raw = np.asarray(data)
        if _is_complex(raw):  # the cast would drop the imaginary part with only a warning
            raise TypeError("complex values are not features")
        array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:  # Overflow: ints beyond float64
        raise DataValidationError(
            f"{what} must be numeric (int/float/bool values), got {_describe(data)}: {exc}"
        ) from exc
    return array


def _is_complex(array: np.ndarray[Any, Any]) -> bool:
    if array.dtype.kind == "c":
        return True
    return array.dtype.kind == "O" and any(
        isinstance(v, complex | np.complexfloating) for v in array.ravel().tolist()
    )


def _describe(data: Any) -> str:
    dtype = getattr(data, "dtype", None)
    if dtype is not None:
        return f"{type(data).__name__} of dtype {dtype}"
    return type(data).__name__


def _check_finite(array: FloatArray, what: str) -> None:
    # A sum of squares is finite only if every value is (4x faster than isfinite().all() on
    # one row); when it is not (or overflows), the full check below decides.
    if array.ndim == 1 and math.isfinite(array.dot(array)):
        return
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        position = tuple(int(i) for i in bad)
        value = array[tuple(bad)]
        raise DataValidationError(
            f"{what} must be finite numbers, got {value} at position {position}"
        )


def _as_missing(array: FloatArray, what: str) -> FloatArray:
    """``array``, whose NaN values (None became NaN) are missing values; an infinity is not
    a missing value but a bad one, and is refused."""
    if array.ndim == 1 and math.isfinite(array.dot(array)):
        return array
    if np.isinf(array).any():
        bad = np.argwhere(np.isinf(array))[0]
        position = tuple(int(i) for i in bad)
        raise DataValidationError(
            f"{what} must be finite numbers or missing (None, NaN), got {array[tuple(bad)]} "
            f"at position {position}"
        )
    return array


def as_feature_matrix(
    data: Any, n_features: int | None = None, what: str = "features", allow_missing: bool = False
) -> FloatArray:
    """Validate a batch of feature rows.

    Args:
        data: array-like of shape ``(n_rows, n_features)``; a 1-D input is taken as one row
            only when its length equals ``n_features``.
        n_features: expected width, or None to accept any width.
        what: name used in error messages.
        allow_missing: keep None and NaN as NaN (missing values) instead of refusing them.

    Returns:
        A C-contiguous float64 array of shape ``(n_rows, n_features)``.

    Raises:
        DataValidationError: non-numeric, non-finite, empty, or of the wrong shape.
    """
    if isinstance(data, Mapping):
        data = [list(data.values())]
    array = _to_float(data, what)
    if array.ndim == 1 and n_features is not None and array.shape[0] == n_features:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise DataValidationError(
            f"{what} must be 2-D (rows x features), got an array of shape {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataValidationError(f"{what} must not be empty, got shape {array.shape}")
    if n_features is not None and array.shape[1] != n_features:
        raise DataValidationError(
            f"{what} must have {n_features} columns like the reference, got {array.shape[1]}"
        )
    if allow_missing:
        return np.ascontiguousarray(_as_missing(array, what))
    _check_finite(array, what)
    return np.ascontiguousarray(array)


def as_feature_row(
    data: Any, n_features: int | None = None, allow_missing: bool = False
) -> FloatArray:
    """Validate the features of one prediction and return them as a 1-D float64 vector.

    Args:
        data: a sequence, 1-D array, Series, one-row DataFrame or dict of one row's features.
        n_features: expected number of features, or None to accept any.
        allow_missing: keep None and NaN as NaN (missing values).

    Raises:
        DataValidationError: not numeric, not finite, empty, several rows, or the wrong width.
    """
    row: FloatArray | None = None
    if type(data) is np.ndarray and data.dtype == np.float64:  # the common case, fast
        row = data
    elif isinstance(data, Mapping):
        data = list(data.values())
    elif hasattr(data, "columns") and hasattr(data, "to_numpy"):
        frame = data.to_numpy()
        if frame.shape[0] != 1:
            raise DataValidationError(
                f"features of one prediction must be one row, got {frame.shape[0]} rows"
            )
        data = frame[0]
    elif np.isscalar(data) and not isinstance(data, str | bytes):
        data = [data]
    if row is None:
        row = _to_float(data, "features")
    if row.ndim == 2 and row.shape[0] == 1:
        row = row[0]
    if row.ndim != 1:
        raise DataValidationError(
            f"features of one prediction must be 1-D, got an array of shape {row.shape}"
        )
    if row.shape[0] == 0:
        raise DataValidationError("features must not be empty")
    if n_features is not None and row.shape[0] != n_features:
        raise DataValidationError(
            f"features must have {n_features} values like the reference, got {row.shape[0]}"
        )
    if allow_missing:
        return _as_missing(row, "features")
    _check_finite(row, "features")
    return row
