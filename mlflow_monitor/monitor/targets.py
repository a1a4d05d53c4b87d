"""What a prediction, a probability and a true label may be, for the monitor's task.

:class:`TargetRules` validates the values of the recording calls for one task:

- ``binary``: class labels (int or str) of at most two classes. With an int positive label
  of 0 or 1 the classes are 0 and 1; otherwise the positive label and the first other label
  seen. A third class is refused (it is not counted as negative). Probabilities are floats
  in [0, 1].
- ``multiclass``: any class labels. A probability is a float in [0, 1] (the predicted
  class's), a vector of class probabilities or a dict of them by class; the monitor keeps
  the predicted class's probability (the vector's largest) and, for a vector (or a dict,
  given the model's ``classes``), the whole vector
  (:mod:`~mlflow_monitor.monitor.class_vectors`).
- ``regression``: predictions and targets are finite numbers, kept as floats; there is no
  probability.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlflow_monitor._types import Label, as_label, as_target, scalar_value
from mlflow_monitor.exceptions import DataValidationError
from mlflow_monitor.monitor.class_vectors import Vector, class_matrix, class_vector
from mlflow_monitor.monitor.validation import (
    column_of,
    label_column,
    probability_column,
    probability_value,
)

__all__ = ["TargetRules"]


class TargetRules:
    """Validates predictions, probabilities and true labels for one task.

    Args:
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        positive_label: the binary positive class.
        model_classes: a multiclass model's classes, in the order of its probability vectors.
    """

    def __init__(
        self,
        task: str = "binary",
        positive_label: Label = 1,
        model_classes: Sequence[Any] | None = None,
    ) -> None:
        self.task = task
        self.positive_label = positive_label
        self.model_classes = list(model_classes) if model_classes else None
        self._classes: set[Any] = {positive_label}
        if type(positive_label) is int and positive_label in (0, 1):
            self._classes = {0, 1}
        self._lock = threading.Lock()

    # -- binary classes -------------------------------------------------------------------

    @property
    def classes(self) -> list[Any]:
        """The binary classes known so far (the positive label first)."""
        with self._lock:
            rest = sorted((c for c in self._classes if c != self.positive_label), key=str)
            return [self.positive_label, *rest]

    def _learn(self, labels: set[Any], what: str) -> None:
        with self._lock:
            new = labels - self._classes
            if not new:
                return
            known = self._classes | new
            if len(known) > 2:
                extra = sorted(new, key=str)[-1]
                raise DataValidationError(
                    f"{what} {extra!r} is a class a binary monitor does not have (its classes "
                    f"are {sorted(self._classes, key=str)!r}, positive {self.positive_label!r});"
                    " set positive_label to the model's positive class, or task='multiclass' "
                    "to monitor more than two classes"
                )
            self._classes = known

    def _check_classes(self, labels: Any, what: str) -> None:
        if self.task != "binary":
            return
        if isinstance(labels, np.ndarray):
            if labels.dtype.kind in "iu" and self._classes == {0, 1}:
                if labels.size and (labels.min() < 0 or labels.max() > 1):
                    bad = labels[(labels < 0) | (labels > 1)][0].item()
                    self._learn({bad}, what)
                return
            labels = labels.tolist()
        present = set(labels)
        present.discard(None)
        if not present <= self._classes:
            self._learn(present, what)

    # -- one value ------------------------------------------------------------------------

    def label(self, value: Any, what: str) -> Label:
        """One prediction or true label."""
        if self.task == "regression":
            return as_target(value, what)
        label = as_label(value, what)
        if self.task == "binary" and label not in self._classes:
            self._learn({label}, what)
        return label

    def probability(self, value: Any, prediction: Label) -> float | None:
        """One probability, as the monitor keeps it (a float in [0, 1] or None)."""
        if value is None:
            return None
        if self.task == "regression":
            raise DataValidationError(
                f"a regression monitor takes no probability, got {value!r}; pass None"
            )
        if self.task == "multiclass" and not isinstance(value, float):
            return _class_probability(value, prediction)
        return probability_value(value)

    def class_probabilities(self, value: Any) -> Vector | None:
        """One multiclass prediction's vector of class probabilities, or None."""
        if self.task != "multiclass":
            return None
        return class_vector(value, self.model_classes)

    # -- columns --------------------------------------------------------------------------

    def class_probability_column(self, values: Any, n: int) -> Vector | list[Vector | None] | None:
        """A multiclass batch's class probabilities (see
        :func:`~mlflow_monitor.monitor.class_vectors.class_matrix`); None for other tasks."""
        if self.task != "multiclass" or values is None:
            return None
        return class_matrix(values, self.model_classes, n)

    def label_column(
        self, values: Any, what: str, n: int | None, missing_ok: bool = False
    ) -> list[Any] | np.ndarray[Any, Any]:
        """A column of predictions or true labels (an array kept as one where it can be)."""
        if self.task == "regression":
            return _target_column(values, what, n, missing_ok)
        labels = label_column(values, what, n, missing_ok=missing_ok, keep_array=not missing_ok)
        self._check_classes(labels, what)
        return labels

    def probability_column(
        self, values: Any, predictions: Any, n: int
    ) -> list[float | None] | np.ndarray[Any, Any]:
        """``n`` probabilities as the monitor keeps them."""
        if values is None:
            return [None] * n
        if self.task == "regression":
            raise DataValidationError("a regression monitor takes no probabilities; pass None")
        if self.task == "multiclass":
            if hasattr(values, "to_numpy"):
                values = values.to_numpy()
            if isinstance(values, np.ndarray) and values.ndim == 2:
                if values.shape[0] != n:
                    raise DataValidationError(
                        f"probabilities must have one row per prediction ({n}), "
                        f"got {values.shape[0]}"
                    )
                return probability_column(values.max(axis=1) if n else values[:, 0], n)
            column = column_of(values, "probabilities", n)
            if any(not isinstance(v, float | int | type(None)) for v in column):
                preds = list(
                    predictions.tolist() if hasattr(predictions, "tolist") else predictions
                )
                return [_class_probability(v, p) for v, p in zip(column, preds, strict=True)]
        return probability_column(values, n)


def _class_probability(value: Any, prediction: Label) -> float | None:
    """The predicted class's probability out of a vector or dict of class probabilities."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        for p in value.values():
            probability_value(p)  # each must be a probability
        match = [
            p for name, p in value.items() if name == prediction or str(name) == str(prediction)
        ]
        if not match:
            raise DataValidationError(
                f"probabilities {value!r} have no entry for the predicted class {prediction!r}"
            )
        return probability_value(match[0])
    if isinstance(value, list | tuple | np.ndarray):
        array = np.asarray(value, dtype=object)
        if array.ndim != 1 or not array.size:
            raise DataValidationError(
                f"class probabilities must be a non-empty vector, got {value!r}"
            )
        numbers = [probability_value(v) for v in array.tolist()]
        return max(n for n in numbers if n is not None)
    return probability_value(scalar_value(value, "probability"))


def _target_column(
    values: Any, what: str, n: int | None, missing_ok: bool
) -> list[Any] | np.ndarray[Any, Any]:
    """A column of regression values: a float array, or a list with None for unknown."""
    column = column_of(values, f"{what}s", n)
    if isinstance(column, np.ndarray) and column.dtype.kind in "fiu" and not missing_ok:
        array = column.astype(np.float64)  # a copy the store may keep
        bad = ~np.isfinite(array)
        if bad.any():
            as_target(array[bad][0].item(), what)  # raises, naming the value
        return array
    items = column.tolist() if isinstance(column, np.ndarray) else column
    if missing_ok:
        return [None if v is None else as_target(v, what) for v in items]
    return [as_target(v, what) for v in items]
