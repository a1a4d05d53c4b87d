"""Classification metrics expected from calibrated probabilities, and realized over drawn labels.

A row predicted positive with probability ``p`` of being positive adds ``p`` to the expected
true positives and ``1 - p`` to the expected false positives; summing over a window gives the
expected confusion matrix and the metrics made from it (:func:`binary_expected`,
:func:`multiclass_expected`, :func:`expected_auc`). Drawing each row's label from its
probabilities many times (:func:`draw_labels`) and computing the metrics of every draw
(:func:`binary_realized`, :func:`multiclass_realized`) gives the spread a window's realized
value has around the expectation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from mlflow_monitor._types import FloatArray

__all__ = [
    "binary_expected",
    "binary_realized",
    "draw_labels",
    "expected_auc",
    "multiclass_expected",
    "multiclass_realized",
    "realized_auc",
]


def binary_expected(p: FloatArray, predicted: npt.NDArray[Any]) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of the expected confusion matrix."""
    positive = predicted == 1
    tp = float(p[positive].sum())
    fp = float((1.0 - p[positive]).sum())
    fn = float(p[~positive].sum())
    tn = float((1.0 - p[~positive]).sum())
    n = tp + fp + fn + tn
    return {
        "accuracy": (tp + tn) / n,
        "precision": tp / (tp + fp) if tp + fp > 0 else 0.0,
        "recall": tp / (tp + fn) if tp + fn > 0 else 0.0,
        "f1_score": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else 0.0,
    }


def binary_realized(
    draws: npt.NDArray[Any], predicted: npt.NDArray[Any], scores: FloatArray
) -> dict[str, npt.NDArray[Any]]:
    """The metrics of each draw of labels (1 = positive), for the intervals."""
    positive = predicted[None, :] == 1
    truth = draws == 1
    tp = (positive & truth).sum(axis=1).astype(float)
    fp = (positive & ~truth).sum(axis=1).astype(float)
    fn = (~positive & truth).sum(axis=1).astype(float)
    n = draws.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "accuracy": (n - fp - fn) / n,
            "precision": np.where(tp + fp > 0, tp / (tp + fp), 0.0),
            "recall": np.where(tp + fn > 0, tp / (tp + fn), 0.0),
            "f1_score": np.where(tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0),
            "roc_auc": realized_auc(truth, scores),
        }


def expected_auc(p: FloatArray) -> float:
    """ROC AUC expected when each row is positive with probability ``p`` (scored by ``p``).

    AUC is the share of (positive, negative) pairs ranked right; in expectation that is
    sum over i ranked above j of p_i (1 - p_j), over sum of p_i (1 - p_j) for i != j.
    """
    order = np.argsort(p, kind="mergesort")
    ranked = p[order]
    # For each row, the weight of negatives ranked strictly below it (ties count half).
    negatives = 1.0 - ranked
    below = np.concatenate([[0.0], np.cumsum(negatives)[:-1]])
    _, starts, counts = np.unique(ranked, return_index=True, return_counts=True)
    tie_below = np.repeat(below[starts], counts)
    tie_weight = np.repeat(np.add.reduceat(negatives, starts), counts) - negatives
    right = float((ranked * (tie_below + 0.5 * tie_weight)).sum())
    total = float(ranked.sum() * negatives.sum() - (ranked * negatives).sum())
    return right / total if total > 0 else float("nan")


def realized_auc(truth: npt.NDArray[Any], scores: FloatArray) -> npt.NDArray[Any]:
    """ROC AUC of each draw of labels, scored by ``scores`` (Mann-Whitney, ties half)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n_pos = truth.sum(axis=1).astype(float)
    n_neg = truth.shape[1] - n_pos
    rank_sum = (truth * ranks[None, :]).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def multiclass_expected(p: FloatArray, predicted: npt.NDArray[Any]) -> dict[str, float]:
    """Accuracy and macro F1 of the expected confusion matrix."""
    n, k = p.shape
    chosen = np.zeros_like(p, dtype=bool)
    chosen[np.arange(n), predicted] = True
    tp = (p * chosen).sum(axis=0)
    fp = ((1.0 - p) * chosen).sum(axis=0)
    fn = (p * ~chosen).sum(axis=0)
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros(k), where=denominator > 0)
    return {"accuracy": float(tp.sum() / n), "macro_f1": float(f1.mean())}


def multiclass_realized(
    draws: npt.NDArray[Any], predicted: npt.NDArray[Any], k: int
) -> dict[str, npt.NDArray[Any]]:
    correct = draws == predicted[None, :]
    f1s = []
    for c in range(k):
        chosen = predicted[None, :] == c
        truth = draws == c
        tp = (chosen & truth).sum(axis=1).astype(float)
        fp = (chosen & ~truth).sum(axis=1).astype(float)
        fn = (~chosen & truth).sum(axis=1).astype(float)
        denominator = 2 * tp + fp + fn
        f1s.append(np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0))
    return {"accuracy": correct.mean(axis=1), "macro_f1": np.mean(f1s, axis=0)}


def draw_labels(p: FloatArray, draws: int, rng: np.random.Generator) -> npt.NDArray[Any]:
    """``draws`` label vectors, each row's class drawn from its probabilities."""
    cumulative = np.cumsum(p, axis=1)
    u = rng.random((draws, p.shape[0]))
    labels = np.zeros(u.shape, dtype=np.int64)
    for c in range(p.shape[1] - 1):  # one (draws, n) comparison per class boundary
        labels += u > cumulative[None, :, c]
    return labels
