"""Performance before labels arrive: estimated from the model's own outputs.

A classifier whose probabilities are calibrated says how often it is right: a prediction
made with probability 0.8 is correct four times in five. Confidence-based performance
estimation (CBPE) adds that up over an unlabelled window into the expected confusion matrix,
and from it expected accuracy, precision, recall and F1. A regressor says nothing of its own
error, so direct loss estimation (DLE) learns it: a gradient-boosted model, fit on the
reference, predicts each row's absolute and squared error from the row's features and the
prediction.

:class:`PerformanceEstimator` is fit once on the reference outputs and labels, then estimates
every window. Each estimate comes with an interval from the window's size:

- classification: the spread of the metric over labels drawn from the calibrated
  probabilities (the realized value of a window is one such draw when the probabilities are
  right), widened by the calibration error the probabilities showed on held-out reference
  rows as confident as the window's;
- regression: the spread of the mean of the row losses, from the loss model's residuals on
  held-out reference rows, plus that model's own bias there.

Probabilities are checked on the reference first. Where isotonic recalibration (fit on some
folds, judged on the others) lowers their Brier score, an isotonic calibrator fit on the whole
reference is used for the windows; otherwise the model's probabilities are used as they are.

What an estimate cannot see: a change of P(y | x), where the same input now has another
answer (concept shift). The model's confidence does not move, so neither does the estimate;
only labels show it. Estimation also assumes the window's inputs lie where the reference has
data: far outside it, calibration measured on the reference says little.

Example:
    >>> estimator = PerformanceEstimator("binary").fit(ref_probabilities, ref_labels)
    >>> estimate = estimator.estimate(window_probabilities)
    >>> estimate.metrics["accuracy"], estimate.intervals["accuracy"]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlflow_monitor._types import FloatArray
from mlflow_monitor.exceptions import ConfigError, DataValidationError, NotFittedError
from mlflow_monitor.performance import calibration, expected
from mlflow_monitor.results import Calibration, PerformanceEstimate

__all__ = [
    "ESTIMATED_METRICS",
    "TASKS",
    "Calibration",
    "PerformanceEstimate",
    "PerformanceEstimator",
    "estimated_degradation",
]

TASKS = ("binary", "multiclass", "regression")
# The metrics each task's estimate gives.
ESTIMATED_METRICS: Mapping[str, tuple[str, ...]] = {
    "binary": ("accuracy", "precision", "recall", "f1_score", "roc_auc"),
    "multiclass": ("accuracy", "macro_f1"),
    "regression": ("mae", "rmse"),
}
# Metrics that get worse when they rise.
ERROR_METRICS = frozenset({"mae", "rmse"})

_DRAWS = 400  # label draws behind a classification interval
_FOLDS = 5  # cross-fitting folds of the calibration check and the loss model
_MIN_REFERENCE = 50


class PerformanceEstimator:
    """Estimates a model's performance on windows without labels.

    Args:
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        threshold: probability at or above which a binary prediction is positive.
        confidence: level of the intervals.
        random_state: seed of the calibration folds, the loss model and the label draws.
    """

    def __init__(
        self,
        task: str = "binary",
        *,
        threshold: float = 0.5,
        confidence: float = 0.95,
        random_state: int | None = 0,
    ) -> None:
        if task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
        if not 0.0 < threshold < 1.0:
            raise ConfigError(f"threshold must be in (0, 1), got {threshold!r}")
        if not 0.5 <= confidence < 1.0:
            raise ConfigError(f"confidence must be in [0.5, 1), got {confidence!r}")
        self.task = task
        self.threshold = float(threshold)
        self.confidence = float(confidence)
        self.random_state = random_state
        self.classes_: list[Any] | None = None
        self.calibration_: Calibration | None = None
        self._calibrators: list[Any] | None = None
        self._loss_models: dict[str, Any] | None = None
        self._loss_spread: dict[str, tuple[float, float]] = {}
        self._bin_gaps: FloatArray = np.zeros(calibration.BINS)

    # -- fitting -------------------------------------------------------------------------

    def fit(
        self,
        reference_outputs: Any,
        reference_labels: Sequence[Any] | npt.NDArray[Any],
        *,
        classes: Sequence[Any] | None = None,
        reference_features: Any = None,
    ) -> PerformanceEstimator:
        """Learn from the reference: calibration for classifiers, the loss model for regressors.

        Args:
            reference_outputs: binary: the positive class's probability per row;
                multiclass: an ``(n, k)`` matrix of class probabilities (columns in the order
                of ``classes``); regression: the predictions.
            reference_labels: the true labels (targets) of the same rows.
            classes: multiclass: the class of each probability column (default
                ``0 .. k-1``); binary: ``(negative, positive)`` (default ``(0, 1)``).
            reference_features: regression: numeric features of the rows, an ``(n, d)``
                array (the loss model also sees the prediction); optional.

        Raises:
            DataValidationError: outputs and labels that do not fit the task.
        """
        labels = np.asarray(reference_labels)
        if self.task == "regression":
            self._fit_regression(reference_outputs, labels, reference_features)
            return self
        probabilities = self._probabilities(reference_outputs, fitting=True, classes=classes)
        _check_reference(probabilities.shape[0], "outputs", labels.shape[0], "labels")
        assert self.classes_ is not None
        index = {c: i for i, c in enumerate(self.classes_)}
        unknown = sorted({str(v) for v in labels.tolist() if v not in index})
        if unknown:
            raise DataValidationError(
                f"reference labels {unknown[:5]} are not among the classes {self.classes_}"
            )
        onehot = np.zeros_like(probabilities)
        onehot[np.arange(len(labels)), [index[v] for v in labels.tolist()]] = 1.0
        self._fit_calibration(probabilities, onehot)
        return self

    def _probabilities(
        self, outputs: Any, *, fitting: bool = False, classes: Sequence[Any] | None = None
    ) -> FloatArray:
        """Outputs as an ``(n, k)`` matrix of class probabilities, checked."""
        values = np.asarray(outputs, dtype=float)
        if self.task == "binary":
            if values.ndim == 2 and values.shape[1] == 2:
                values = values[:, 1]
            if values.ndim != 1:
                raise DataValidationError(
                    "binary outputs must be one probability per row (of the positive class)"
                )
            values = np.column_stack([1.0 - values, values])
            if fitting:
                self.classes_ = list(classes) if classes is not None else [0, 1]
        else:
            if values.ndim != 2 or values.shape[1] < 2:
                raise DataValidationError(
                    "multiclass outputs must be an (n, k) matrix of class probabilities, k >= 2"
                )
            if fitting:
                k = values.shape[1]
                self.classes_ = list(classes) if classes is not None else list(range(k))
                if len(self.classes_) != k:
                    raise DataValidationError(
                        f"{k} probability columns but {len(classes or [])} classes"
                    )
            elif self.classes_ is not None and values.shape[1] != len(self.classes_):
                raise DataValidationError(
                    f"outputs have {values.shape[1]} columns; the reference had "
                    f"{len(self.classes_)}"
                )
        if values.shape[0] == 0:
            raise DataValidationError("the window is empty")
        if not np.all(np.isfinite(values)) or values.min() < 0.0 or values.max() > 1.0:
            raise DataValidationError("probabilities must be finite numbers in [0, 1]")
        return values

    def _fit_calibration(self, probabilities: FloatArray, onehot: FloatArray) -> None:
        """Isotonic recalibration per class, kept when cross-fitting shows it helps."""
        n, k = probabilities.shape
        columns = [1] if k == 2 else list(range(k))  # binary: the positive column only
        rng = np.random.default_rng(self.random_state)
        folds = rng.permutation(n) % _FOLDS
        crossfit = probabilities.copy()
        for fold in range(_FOLDS):
            train, test = folds != fold, folds == fold
            for c in columns:
                crossfit[test, c] = calibration.isotonic(
                    probabilities[train, c], onehot[train, c]
                ).predict(probabilities[test, c])
        crossfit = calibration.normalised(crossfit, binary=k == 2)
        before = calibration.brier(probabilities, onehot)
        after = calibration.brier(crossfit, onehot)
        use = after < before
        self._calibrators = (
            [calibration.isotonic(probabilities[:, c], onehot[:, c]) for c in columns]
            if use
            else None
        )
        self._bin_gaps = calibration.bin_gaps(crossfit if use else probabilities, onehot)
        self.calibration_ = Calibration(
            "isotonic" if use else "none",
            brier_before=round(before, 6),
            brier_after=round(after, 6),
            ece_before=round(calibration.ece(probabilities, onehot), 6),
            ece_after=round(calibration.ece(crossfit, onehot), 6),
        )

    def _calibrated(self, probabilities: FloatArray) -> FloatArray:
        if self._calibrators is None:
            return probabilities
        out = probabilities.copy()
        k = probabilities.shape[1]
        columns = [1] if k == 2 else list(range(k))
        for c, calibrator in zip(columns, self._calibrators, strict=True):
            out[:, c] = calibrator.predict(probabilities[:, c])
        return calibration.normalised(out, binary=k == 2)

    def _fit_regression(self, predictions: Any, targets: npt.NDArray[Any], features: Any) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor

        inputs = _regression_inputs(predictions, features)
        targets = _numbers(targets, "regression targets")
        _check_reference(inputs.shape[0], "predictions", targets.shape[0], "targets")
        errors = targets - inputs[:, 0]
        losses = {"mae": np.abs(errors), "rmse": errors**2}
        n = inputs.shape[0]
        folds = np.random.default_rng(self.random_state).permutation(n) % _FOLDS
        self._loss_models = {}
        with _one_thread():
            self._fit_loss_models(inputs, losses, folds, HistGradientBoostingRegressor)
        self.classes_ = None
        self.calibration_ = Calibration("loss model")

    def _fit_loss_models(
        self,
        inputs: FloatArray,
        losses: Mapping[str, FloatArray],
        folds: npt.NDArray[Any],
        regressor: Any,
    ) -> None:
        """A loss model per metric, and its residual spread and bias on held-out folds."""
        assert self._loss_models is not None
        n = inputs.shape[0]
        for name, loss in losses.items():
            held_out = np.empty(n)
            for fold in range(_FOLDS):
                train, test = folds != fold, folds == fold
                model = _loss_model(regressor, self.random_state)
                held_out[test] = model.fit(inputs[train], loss[train]).predict(inputs[test])
            held_out = np.maximum(held_out, 0.0)
            residual = loss - held_out
            # Per-row spread of the realized loss around its estimate, and the estimate's bias.
            self._loss_spread[name] = (float(residual.std(ddof=1)), float(residual.mean()))
            self._loss_models[name] = _loss_model(regressor, self.random_state)
            self._loss_models[name].fit(inputs, loss)

    # -- estimating ----------------------------------------------------------------------

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` ran."""
        return self.calibration_ is not None

    def estimate(
        self, outputs: Any, *, predictions: Any = None, features: Any = None
    ) -> PerformanceEstimate:
        """Estimated metrics of the window whose model outputs are ``outputs``.

        Args:
            outputs: as for :meth:`fit` (probabilities; regression: predictions).
            predictions: classification: the predicted classes, when they are not the
                probabilities' argmax (binary: at or above ``threshold``).
            features: regression: the window's numeric features, as at :meth:`fit`.

        Raises:
            NotFittedError: before :meth:`fit`.
            DataValidationError: an empty window or outputs that do not fit the task.
        """
        if not self.is_fitted:
            raise NotFittedError("call fit(reference_outputs, reference_labels) first")
        if self.task == "regression":
            return self._estimate_regression(outputs, features)
        probabilities = self._calibrated(self._probabilities(outputs))
        n = probabilities.shape[0]
        if n == 0:
            raise DataValidationError("the window is empty")
        predicted = self._predicted_index(probabilities, predictions)
        rng = np.random.default_rng(self.random_state)
        draws = expected.draw_labels(probabilities, _DRAWS, rng)  # (draws, n) class indices
        if self.task == "binary":
            scores = probabilities[:, 1]
            metrics = expected.binary_expected(scores, predicted)
            metrics["roc_auc"] = expected.expected_auc(scores)
            simulated = expected.binary_realized(draws, predicted, scores)
        else:
            metrics = expected.multiclass_expected(probabilities, predicted)
            simulated = expected.multiclass_realized(draws, predicted, probabilities.shape[1])
        tail = (1.0 - self.confidence) / 2.0
        assert self.calibration_ is not None
        # The probabilities are only as right as the reference showed: widen by the
        # calibration error measured on held-out reference rows as confident as the
        # window's (a window of unsure rows is widened by the error of unsure rows).
        slack = calibration.window_slack(self._bin_gaps, probabilities)
        intervals = {}
        for name, values in simulated.items():
            finite = values[np.isfinite(values)]
            if finite.size == 0:
                intervals[name] = (float("nan"), float("nan"))
                continue
            low, high = np.quantile(finite, [tail, 1.0 - tail])
            intervals[name] = (max(float(low) - slack, 0.0), min(float(high) + slack, 1.0))
        return PerformanceEstimate(
            {k: float(v) for k, v in metrics.items()},
            intervals,
            n,
            self.confidence,
            self.calibration_,
        )

    def _predicted_index(self, probabilities: FloatArray, predictions: Any) -> npt.NDArray[Any]:
        if predictions is None:
            if self.task == "binary":
                return (probabilities[:, 1] >= self.threshold).astype(int)
            return np.asarray(np.argmax(probabilities, axis=1), dtype=int)
        assert self.classes_ is not None
        index = {c: i for i, c in enumerate(self.classes_)}
        values = np.asarray(predictions).tolist()
        unknown = sorted({str(v) for v in values if v not in index})
        if unknown:
            raise DataValidationError(
                f"predicted classes {unknown[:5]} are not among {self.classes_}"
            )
        if len(values) != probabilities.shape[0]:
            raise DataValidationError(
                f"{len(values)} predictions but {probabilities.shape[0]} rows of probabilities"
            )
        return np.asarray([index[v] for v in values], dtype=int)

    def _estimate_regression(self, predictions: Any, features: Any) -> PerformanceEstimate:
        assert self._loss_models is not None
        inputs = _regression_inputs(predictions, features)
        n = inputs.shape[0]
        if n == 0:
            raise DataValidationError("the window is empty")
        z = _normal_quantile(1.0 - (1.0 - self.confidence) / 2.0)
        metrics: dict[str, float] = {}
        intervals: dict[str, tuple[float, float]] = {}
        for name, model in self._loss_models.items():
            with _one_thread():
                mean_loss = float(np.maximum(model.predict(inputs), 0.0).mean())
            spread, bias = self._loss_spread[name]
            half = z * spread / np.sqrt(n) + abs(bias)
            low, high = max(mean_loss - half, 0.0), mean_loss + half
            if name == "rmse":
                metrics[name] = float(np.sqrt(mean_loss))
                intervals[name] = (float(np.sqrt(low)), float(np.sqrt(high)))
            else:
                metrics[name] = mean_loss
                intervals[name] = (float(low), float(high))
        assert self.calibration_ is not None
        return PerformanceEstimate(metrics, intervals, n, self.confidence, self.calibration_)


def estimated_degradation(
    estimate: PerformanceEstimate, baseline: Mapping[str, float], threshold: float
) -> dict[str, float]:
    """The metrics an estimate shows degraded, with their estimated relative drops.

    The rule is the realized metrics' rule applied to the estimates: a metric is degraded
    when its estimate is more than ``threshold`` worse than its baseline, relatively (an
    error metric such as ``mae`` when it rises). The intervals are reported beside it, not
    required to clear the baseline: they hold the realized value, which a window of healthy
    traffic may put below the baseline by chance.
    """
    degraded: dict[str, float] = {}
    for name, value in estimate.metrics.items():
        base = baseline.get(name)
        if base is None or not np.isfinite(value) or base == 0:
            continue
        drop = (value - base) / base if name in ERROR_METRICS else (base - value) / base
        if drop > threshold:
            degraded[name] = float(drop)
    return degraded


# --- regression helpers ----------------------------------------------------------------------


def _check_reference(n: int, outputs: str, n_labels: int, labels: str) -> None:
    """Refuse a reference whose outputs and labels differ in length, or that is too small."""
    if n_labels != n:
        raise DataValidationError(f"{n} reference {outputs} but {n_labels} {labels}")
    if n < _MIN_REFERENCE:
        raise DataValidationError(
            f"estimation needs at least {_MIN_REFERENCE} labelled reference rows, got {n}"
        )


def _numbers(values: Any, what: str) -> FloatArray:
    """``values`` as a 1-D float array, refused unless every value is a finite number."""
    try:
        array = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise DataValidationError(f"{what} must be finite numbers") from None
    if not np.all(np.isfinite(array)):
        raise DataValidationError(f"{what} must be finite numbers")
    return array


def _regression_inputs(predictions: Any, features: Any) -> FloatArray:
    values = _numbers(predictions, "regression predictions").reshape(-1, 1)
    if features is None:
        return values
    matrix = np.asarray(features, dtype=float)
    if matrix.ndim == 1:
        matrix = matrix.reshape(-1, 1)
    if matrix.shape[0] != values.shape[0]:
        raise DataValidationError(
            f"{matrix.shape[0]} feature rows but {values.shape[0]} predictions"
        )
    return np.column_stack([values, matrix])


def _one_thread() -> Any:
    """Run scikit-learn's OpenMP code on one thread: a monitor shares its cores with the model
    it watches, and OpenMP threads that spin while others hold the cores cost far more than
    they save on these small fits."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    return threadpool_limits(limits=1, user_api="openmp")


def _loss_model(cls: Any, random_state: int | None) -> Any:
    return cls(max_iter=150, learning_rate=0.08, min_samples_leaf=20, random_state=random_state)


def _normal_quantile(q: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(q))
