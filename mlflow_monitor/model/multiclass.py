"""What ``wrap`` keeps of a multiclass model's outputs on the reference: every class's
probability, for prediction drift of each class and for estimating performance before labels.

The columns of the model's probability matrix are its classes (scikit-learn's ``classes_``,
kept in ``monitor.json``); a model that gives no classes has ``0 .. k-1``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from mlflow_monitor.exceptions import DataValidationError

__all__ = ["multiclass_estimation_reference"]

logger = logging.getLogger(__name__)


def multiclass_estimation_reference(
    inner: Any, reference: Any, truth: list[Any], classes: Sequence[Any]
) -> dict[str, Any]:
    """The inner model's class probabilities on the labelled reference, the labels, the
    classes of the columns, and the baseline metrics they give (key ``baseline``:
    ``accuracy``, ``macro_f1``).

    Raises:
        DataValidationError: the output has no probability matrix, or labels that are not
            the model's classes.
    """
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    from mlflow_monitor.model.outputs import class_probability_matrix

    logger.info("predicting %d labelled reference rows for the estimation", len(reference))
    matrix = class_probability_matrix(inner.predict(reference))
    if matrix is None:
        raise DataValidationError(
            "the model's output has no matrix of class probabilities, which estimation "
            "before labels needs"
        )
    names = list(classes) if classes else list(range(matrix.shape[1]))
    if len(names) != matrix.shape[1]:
        raise DataValidationError(
            f"the model gives {matrix.shape[1]} class probabilities but has {len(names)} classes"
        )
    unknown = sorted({str(v) for v in truth if v not in names})
    if unknown:
        raise DataValidationError(
            f"reference labels {unknown[:5]} are not the model's classes {names[:10]}"
        )
    predicted = [names[i] for i in np.argmax(matrix, axis=1)]
    baseline = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
    }
    return {
        "probabilities": matrix.tolist(),
        "labels": truth,
        "classes": names,
        "baseline": {k: round(v, 6) for k, v in baseline.items()},
    }
