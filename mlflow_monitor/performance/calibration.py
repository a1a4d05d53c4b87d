"""Calibration of class probabilities: isotonic recalibration, scores and where it errs.

:func:`isotonic` fits a recalibration of one class's probability; :func:`brier` and
:func:`ece` score probabilities against the labels; :func:`bin_gaps` measures, per bin of
top-class confidence, how far confidence and accuracy lie apart, and :func:`window_slack`
weights those gaps by where a window's rows lie.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from mlflow_monitor._types import FloatArray

__all__ = [
    "BINS",
    "bin_gaps",
    "brier",
    "confidence_bins",
    "ece",
    "isotonic",
    "normalised",
    "window_slack",
]

BINS = 10  # bins of top-class confidence for the calibration error


def isotonic(x: FloatArray, y: FloatArray) -> Any:
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)


def normalised(p: FloatArray, binary: bool) -> FloatArray:
    if binary:
        p = p.copy()
        p[:, 0] = 1.0 - p[:, 1]
        return p
    totals = p.sum(axis=1, keepdims=True)
    uniform = np.full_like(p, 1.0 / p.shape[1])
    return np.where(totals > 0, p / np.where(totals > 0, totals, 1.0), uniform)


def brier(p: FloatArray, onehot: FloatArray) -> float:
    if p.shape[1] == 2:
        return float(np.mean((p[:, 1] - onehot[:, 1]) ** 2))
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def confidence_bins(p: FloatArray) -> npt.NDArray[Any]:
    """The bin of each row's top-class confidence (``BINS`` equal bins of [0, 1])."""
    edges = np.linspace(0.0, 1.0, BINS + 1)
    return np.asarray(np.clip(np.digitize(p.max(axis=1), edges[1:-1]), 0, BINS - 1))


def bin_gaps(p: FloatArray, onehot: FloatArray) -> FloatArray:
    """Per confidence bin, the gap between confidence and accuracy; a bin without reference
    rows gets the largest gap of the others."""
    confidence = p.max(axis=1)
    correct = onehot[np.arange(p.shape[0]), p.argmax(axis=1)]
    which = confidence_bins(p)
    gaps = np.full(BINS, np.nan)
    for b in range(BINS):
        members = which == b
        n = int(members.sum())
        if n:
            gaps[b] = abs(confidence[members].mean() - correct[members].mean())
    return np.where(np.isnan(gaps), np.nanmax(gaps), gaps)


def window_slack(gaps: FloatArray, p: FloatArray) -> float:
    """The reference's calibration error, weighted by where the window's rows lie."""
    shares = np.bincount(confidence_bins(p), minlength=BINS) / p.shape[0]
    return float(shares @ gaps)


def ece(p: FloatArray, onehot: FloatArray, bins: int = 10) -> float:
    """Expected calibration error of the top-class confidence."""
    confidence = p.max(axis=1)
    correct = onehot[np.arange(p.shape[0]), p.argmax(axis=1)]
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(confidence[members].mean() - correct[members].mean())
    return float(error)
