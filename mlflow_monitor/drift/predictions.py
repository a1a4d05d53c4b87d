"""Prediction drift: the distribution of the model's outputs against the reference's outputs.

A label-free signal: it needs no ground truth, only what the model predicted on the reference
(its training inputs) and what it predicts now. By task:

- binary: the score (the positive-class probability; the class balance when the model gives
  labels only);
- multiclass: the class balance, the probability of the predicted class when given, and,
  when the reference and the recent predictions carry vectors of class probabilities, the
  probability of each class (``class_probability/<class>``; of at most
  :data:`MAX_CLASS_TESTS` classes, those the reference gives the most probability);
- regression: the predicted value.

Numbers are compared with the Kolmogorov-Smirnov test (effect size: the Wasserstein distance
in reference standard deviations), class balances with the chi-square test (effect size: the
Jensen-Shannon distance; :mod:`~mlflow_monitor.drift.column_tests`); the p-values are
corrected together.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlflow_monitor.drift.column_tests import category_test, number_test
from mlflow_monitor.drift.univariate import adjust_p_values
from mlflow_monitor.exceptions import DataValidationError
from mlflow_monitor.results import FeatureDrift, PredictionDrift

__all__ = ["MAX_CLASS_TESTS", "OutputReference"]

MAX_CLASS_TESTS = 10
"""Most classes whose probability is tested on its own: a model of many classes would
otherwise add a test (and a corrected p-value, and logged metrics) per class."""


def _metric_text(text: str) -> str:
    """A class as a part of a metric name (the characters MLflow takes in every key)."""
    return re.sub(r"[^A-Za-z0-9_.\- ]", "_", text).strip() or "_"


def _class_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class OutputReference:
    """The reference's outputs, and the test of recent outputs against them.

    Args:
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        predictions: the model's predictions on the reference.
        probabilities: its probabilities (binary: the positive class's; multiclass: the
            predicted class's, or an ``(n, k)`` matrix of every class's), or None.
        classes: multiclass: the class of each column of a probability matrix (default
            ``0 .. k-1``).

    Raises:
        DataValidationError: fewer than 2 predictions, or probabilities of another length.
    """

    def __init__(
        self,
        task: str,
        predictions: Sequence[Any],
        probabilities: Any = None,
        classes: Sequence[Any] | None = None,
    ) -> None:
        values = list(np.asarray(predictions, dtype=object).tolist())
        if len(values) < 2:
            raise DataValidationError(
                f"reference predictions must hold at least 2 values, got {len(values)}"
            )
        self.task = task
        self.predictions = values
        self.probabilities: np.ndarray[Any, Any] | None = None
        self.class_probabilities: np.ndarray[Any, Any] | None = None
        self.classes: list[Any] | None = None
        if probabilities is not None and task == "multiclass":
            matrix = np.asarray(probabilities, dtype=np.float64)
            if matrix.ndim == 2:
                probabilities = self._set_matrix(matrix, len(values), classes)
        if probabilities is not None:
            scores = np.asarray(probabilities, dtype=np.float64)
            if scores.shape != (len(values),):
                raise DataValidationError(
                    f"reference probabilities must be one per prediction ({len(values)}), "
                    f"got shape {scores.shape}"
                )
            self.probabilities = scores if np.isfinite(scores).any() else None
        self._values = (
            np.asarray([float(v) for v in values], dtype=np.float64)
            if task == "regression"
            else None
        )
        self._counts = None if task == "regression" else Counter(_class_text(v) for v in values)

    def _set_matrix(
        self, matrix: np.ndarray[Any, Any], n: int, classes: Sequence[Any] | None
    ) -> np.ndarray[Any, Any]:
        """Keep a reference matrix of class probabilities; the predicted class's probability
        (each row's largest) is returned for the score test."""
        if matrix.shape[0] != n or matrix.shape[1] < 2:
            raise DataValidationError(
                f"reference class probabilities must be an ({n}, k) matrix with k >= 2, got "
                f"shape {matrix.shape}"
            )
        k = matrix.shape[1]
        names = list(classes) if classes is not None else list(range(k))
        if len(names) != k:
            raise DataValidationError(f"{k} probability columns but {len(names)} classes")
        self.class_probabilities = matrix
        self.classes = names
        best: np.ndarray[Any, Any] = matrix.max(axis=1)
        return best

    def to_dict(self) -> dict[str, Any]:
        """The reference outputs as JSON-serialisable values."""
        data: dict[str, Any] = {
            "task": self.task,
            "predictions": self.predictions,
            "probabilities": None if self.probabilities is None else self.probabilities.tolist(),
        }
        if self.class_probabilities is not None:
            data["class_probabilities"] = self.class_probabilities.tolist()
            data["classes"] = self.classes
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutputReference:
        """Inverse of :meth:`to_dict`."""
        matrix = data.get("class_probabilities")
        if matrix is not None:
            return cls(str(data["task"]), data["predictions"], matrix, data.get("classes"))
        return cls(str(data["task"]), data["predictions"], data.get("probabilities"))

    def tested_classes(self) -> list[int]:
        """The columns whose probability is tested on its own: at most
        :data:`MAX_CLASS_TESTS`, those of the largest mean reference probability."""
        if self.class_probabilities is None:
            return []
        means = self.class_probabilities.mean(axis=0)
        order = sorted(range(len(means)), key=lambda i: (-means[i], i))
        return sorted(order[:MAX_CLASS_TESTS])

    def _class_tests(
        self, recent: Sequence[tuple[Any, ...]]
    ) -> list[tuple[str, str, float, float, float]]:
        """KS tests of each tested class's probability, over the recent vectors as wide
        as the reference's."""
        reference = self.class_probabilities
        if reference is None or self.classes is None:
            return []
        k = reference.shape[1]
        vectors = [
            row[2] for row in recent if len(row) > 2 and row[2] is not None and len(row[2]) == k
        ]
        if len(vectors) < 2:
            return []
        current = np.vstack(vectors)
        found = []
        for i in self.tested_classes():
            result = number_test(reference[:, i], current[:, i])
            name = f"class_probability/{_metric_text(_class_text(self.classes[i]))}"
            found.append((name, "ks", result.statistic, result.p_value, result.effect_size))
        return found

    def test(
        self, recent: Sequence[tuple[Any, ...]], p_val: float, correction: str
    ) -> PredictionDrift | None:
        """Test recent ``(prediction, probability)`` pairs, or ``(prediction, probability,
        class_probabilities)`` triples; None with fewer than 2."""
        if len(recent) < 2:
            return None
        found: list[tuple[str, str, float, float, float]] = []
        extra: dict[str, float] = {}
        if self.task == "regression":
            assert self._values is not None
            current = np.asarray([float(row[0]) for row in recent], dtype=np.float64)
            result = number_test(self._values, current)
            found.append(("prediction", "ks", result.statistic, result.p_value, result.effect_size))
        else:
            assert self._counts is not None
            score_test = self.probabilities is not None
            # Binary scores say more than the balance of their thresholded labels.
            if self.task == "multiclass" or not score_test:
                classes = [_class_text(row[0]) for row in recent]
                outcome = category_test(self._counts, set(self._counts), classes)
                found.append(
                    ("prediction", "chi2", outcome.statistic, outcome.p_value, outcome.effect_size)
                )
                extra["unseen_share"] = outcome.unseen_share
            if score_test:
                assert self.probabilities is not None
                scores = np.asarray(
                    [np.nan if row[1] is None else float(row[1]) for row in recent],
                    dtype=np.float64,
                )
                if np.isfinite(scores).any():
                    result = number_test(self.probabilities, scores)
                    found.append(
                        ("probability", "ks", result.statistic, result.p_value, result.effect_size)
                    )
            if self.task == "multiclass":
                found.extend(self._class_tests(recent))
        adjusted = adjust_p_values(np.array([f[3] for f in found]), correction)
        outputs = tuple(
            FeatureDrift(
                name=name,
                statistic=float(statistic),
                p_value=float(p),
                adjusted_p_value=float(adj),
                drift_detected=bool(adj < p_val),
                kind="categorical" if test == "chi2" else "numeric",
                test=test,
                effect_size=float(effect),
                effect_size_name="jensen_shannon" if test == "chi2" else "wasserstein/std",
                unseen_share=extra.get("unseen_share") if test == "chi2" else None,
            )
            for (name, test, statistic, p, effect), adj in zip(found, adjusted, strict=True)
        )
        return PredictionDrift(
            drift_detected=any(o.drift_detected for o in outputs),
            outputs=outputs,
            n_reference=len(self.predictions),
            n_test=len(recent),
            p_val=p_val,
        )
