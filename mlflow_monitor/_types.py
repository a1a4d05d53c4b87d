"""Small types every part shares: class labels and targets, clocks, float arrays.

They sit below every subpackage, so drift, performance, the stores and the monitor can all
name them without importing each other.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from mlflow_monitor.exceptions import DataValidationError

__all__ = [
    "Clock",
    "FloatArray",
    "Label",
    "as_label",
    "as_target",
    "scalar_value",
    "storable_text",
    "unstorable_reason",
]

Label = int | str | float
"""A prediction or true label as the monitor keeps it: a class label (``int`` or ``str``),
or for ``task="regression"`` a target value (``float``)."""

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware in UTC; tests pass a fake one."""

FloatArray = npt.NDArray[np.float64]
"""A float64 numpy array (feature matrices, reference samples)."""


def scalar_value(value: Any, what: str) -> Any:
    """A numpy scalar (or one-element array) as its Python value; other values unchanged.

    Raises:
        DataValidationError: an array or Series of several values where one is expected.
    """
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            return value.item()
        except (ValueError, TypeError) as exc:
            size = getattr(value, "size", "several")
            raise DataValidationError(
                f"{what} must be one value, got {type(value).__name__} of {size} values"
            ) from exc
    return value


def unstorable_reason(text: str) -> str | None:
    """Why ``text`` cannot be stored as it is, or None when it can.

    Every store and every response carries text as UTF-8; a lone UTF-16 surrogate (JSON
    ``"\\ud800"``) has no UTF-8 form, and PostgreSQL refuses the NUL character in text.
    """
    if "\x00" in text:
        return "it holds a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"it holds {text[exc.start : exc.end]!a}, which has no UTF-8 form (a lone surrogate)"
    return None


def storable_text(text: str, what: str) -> str:
    """``text`` unchanged when every store can keep it (see :func:`unstorable_reason`).

    Raises:
        DataValidationError: a NUL character or a lone surrogate, naming ``what``.
    """
    reason = unstorable_reason(text)
    if reason is not None:
        raise DataValidationError(f"{what} cannot be stored: {reason}")
    return text


def as_label(value: Any, what: str) -> Label:
    """Validate a class label (int or str; numpy scalars and integral floats accepted).

    Raises:
        DataValidationError: anything else, naming ``what``.
    """
    if type(value) is int or type(value) is str:  # the common case, without the checks
        return value
    value = scalar_value(value, what)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int | str):
        return value
    raise DataValidationError(f"{what} must be a class label (int or str), got {value!r}")


def as_target(value: Any, what: str) -> float:
    """Validate a regression value: a finite number (numpy scalars accepted), as a float.

    Raises:
        DataValidationError: anything else (a bool, a str, NaN, infinity), naming ``what``.
    """
    if type(value) is float and math.isfinite(value):  # the common case, without the checks
        return value
    value = scalar_value(value, what)
    number = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
    if not math.isfinite(number):
        raise DataValidationError(f"{what} must be a finite number, got {value!r}")
    return number
