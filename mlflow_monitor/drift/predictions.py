"""Prediction drift: the distribution of the model's outputs against the reference's outputs.

A label-free signal: it needs no ground truth, only what the model predicted on the reference
(its training inputs) and what it predicts now. By task:

- binary: the score (the positive-class probability; the class balance when the model gives
  labels only);
- multiclass: the class balance, and the probability of the predicted class when given;
- regression: the predicted value.

Numbers are compared with the Kolmogorov-Smirnov test, class balances with the chi-square
test (:mod:`~mlflow_monitor.drift.column_tests`); the p-values are corrected together.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlflow_monitor.drift.column_tests import category_test, number_test
from mlflow_monitor.drift.univariate import adjust_p_values
from mlflow_monitor.exceptions import DataValidationError
from mlflow_monitor.results import FeatureDrift, PredictionDrift

__all__ = ["OutputReference"]


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
            predicted class's), or None.

    Raises:
        DataValidationError: fewer than 2 predictions, or probabilities of another length.
    """

    def __init__(self, task: str, predictions: Sequence[Any], probabilities: Any = None) -> None:
        values = list(np.asarray(predictions, dtype=object).tolist())
        if len(values) < 2:
            raise DataValidationError(
                f"reference predictions must hold at least 2 values, got {len(values)}"
            )
        self.task = task
        self.predictions = values
        self.probabilities: np.ndarray[Any, Any] | None = None
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

    def to_dict(self) -> dict[str, Any]:
        """The reference outputs as JSON-serialisable values."""
        return {
            "task": self.task,
            "predictions": self.predictions,
            "probabilities": None if self.probabilities is None else self.probabilities.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutputReference:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["task"]), data["predictions"], data.get("probabilities"))

    def test(
        self, recent: Sequence[tuple[Any, float | None]], p_val: float, correction: str
    ) -> PredictionDrift | None:
        """Test recent ``(prediction, probability)`` pairs; None with fewer than 2."""
        if len(recent) < 2:
            return None
        found: list[tuple[str, str, float, float, float]] = []
        extra: dict[str, float] = {}
        if self.task == "regression":
            assert self._values is not None
            current = np.asarray([float(p) for p, _ in recent], dtype=np.float64)
            result = number_test(self._values, current)
            found.append(("prediction", "ks", result.statistic, result.p_value, result.effect_size))
        else:
            assert self._counts is not None
            score_test = self.probabilities is not None
            # Binary scores say more than the balance of their thresholded labels.
            if self.task == "multiclass" or not score_test:
                classes = [_class_text(p) for p, _ in recent]
                outcome = category_test(self._counts, set(self._counts), classes)
                found.append(
                    ("prediction", "chi2", outcome.statistic, outcome.p_value, outcome.effect_size)
                )
                extra["unseen_share"] = outcome.unseen_share
            if score_test:
                assert self.probabilities is not None
                scores = np.asarray(
                    [np.nan if q is None else float(q) for _, q in recent], dtype=np.float64
                )
                if np.isfinite(scores).any():
                    result = number_test(self.probabilities, scores)
                    found.append(
                        ("probability", "ks", result.statistic, result.p_value, result.effect_size)
                    )
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
