"""A multiclass prediction's probability of every class, as the monitor keeps it.

A multiclass monitor keeps, beside the predicted class's probability, the whole vector of
class probabilities when one is recorded: an ``(n, k)`` matrix or 1-D vectors (columns in the
order of the model's classes, the monitor's ``classes`` option), or ``{class: probability}``
dicts, which are put in that order (a class a dict leaves out has probability 0). Without
``classes`` a vector is kept in the order it came and a dict gives no vector (its order is
not known). Every entry must be a finite number in [0, 1]; a vector's length must be the
number of ``classes`` when they are set.

Prediction drift tests each class's probability against the reference's, and the monitor's
performance estimate (CBPE) adds the vectors of a window up into its expected confusion
matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlflow_monitor.exceptions import DataValidationError
from mlflow_monitor.monitor.validation import probability_value

__all__ = ["class_matrix", "class_vector"]

Vector = npt.NDArray[np.float64]


def _checked(matrix: npt.NDArray[Any], what: str, classes: Sequence[Any] | None) -> Vector:
    """``matrix`` (1-D or 2-D) as float64 entries in [0, 1], as wide as ``classes``."""
    try:
        values = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"{what} must be numbers in [0, 1], got {matrix!r}") from exc
    width = values.shape[-1] if values.ndim else 0
    if width < 2:
        raise DataValidationError(
            f"{what} must hold the probability of at least 2 classes, got shape {values.shape}"
        )
    if classes and width != len(classes):
        raise DataValidationError(
            f"{what} has {width} class probabilities; the monitor's classes are "
            f"{list(classes)[:10]} ({len(classes)})"
        )
    bad = ~((values >= 0.0) & (values <= 1.0))  # NaN is bad too
    if bad.any():
        raise DataValidationError(
            f"class probabilities must be numbers in [0, 1], got {values[bad][0].item()!r}"
        )
    return values


def _from_mapping(value: Mapping[Any, Any], classes: Sequence[Any]) -> Vector:
    index = {c: i for i, c in enumerate(classes)}
    by_text = {str(c): i for i, c in enumerate(classes)}
    vector = np.zeros(len(classes), dtype=np.float64)
    for name, probability in value.items():
        i = index.get(name, by_text.get(str(name)))
        if i is None:
            raise DataValidationError(
                f"class probabilities name the class {name!r}, which is not among the "
                f"monitor's classes {list(classes)[:10]}"
            )
        number = probability_value(probability)
        vector[i] = 0.0 if number is None else number
    return vector


def class_vector(value: Any, classes: Sequence[Any] | None) -> Vector | None:
    """One prediction's class probabilities, or None when ``value`` gives none (None, a
    single probability, a dict without ``classes``).

    Raises:
        DataValidationError: entries outside [0, 1], a length other than ``classes``', or a
            dict naming a class that is not among them.
    """
    if value is None or isinstance(value, float | int):
        return None
    if isinstance(value, Mapping):
        return _from_mapping(value, classes) if classes else None
    if isinstance(value, list | tuple) or (isinstance(value, np.ndarray) and value.ndim == 1):
        return _checked(np.asarray(value), "a vector of class probabilities", classes)
    return None


def class_matrix(
    values: Any, classes: Sequence[Any] | None, n: int
) -> Vector | list[Vector | None] | None:
    """A batch's class probabilities: an ``(n, k)`` matrix when given one, a list of vectors
    (None for a row without one) when given rows, None when no row has one.

    Raises:
        DataValidationError: as :func:`class_vector`, or a matrix of another length.
    """
    if values is None:
        return None
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    if isinstance(values, np.ndarray) and values.ndim == 2:
        if values.shape[0] != n:
            raise DataValidationError(
                f"probabilities must have one row per prediction ({n}), got {values.shape[0]}"
            )
        return _checked(values, "the probability matrix", classes)
    if isinstance(values, np.ndarray | str | bytes):
        return None  # one probability per prediction
    rows = list(values)
    if not any(isinstance(v, Mapping | list | tuple | np.ndarray) for v in rows):
        return None
    vectors = [class_vector(v, classes) for v in rows]
    return vectors if any(v is not None for v in vectors) else None
