"""Effect sizes a person can read: how far each feature moved, in reference standard
deviations.

A p-value says whether a window differs from the reference; with enough rows every
difference becomes significant. The effect size says by how much: the Wasserstein-1 distance
between a feature's reference and tested values divided by the reference's standard
deviation (a pure shift of the mean by 0.3 standard deviations has effect 0.3; so does
any change that moves the values that far on average), and the signed difference of the
means in the same unit. ``drift_min_effect`` compares against the largest of them.
"""

from __future__ import annotations

import numpy as np

from mlflow_monitor._types import FloatArray
from mlflow_monitor.drift.ecdf import ColumnGaps

__all__ = ["MAX_EFFECT", "feature_effects", "reference_scales"]

# Effect of a feature that is constant in the reference and not in the window: a change
# with no scale to measure it in, reported as this many standard deviations.
MAX_EFFECT = 1000.0


def reference_scales(reference: FloatArray) -> FloatArray:
    """The standard deviation of each reference column (0 for a constant column)."""
    scales: FloatArray = (
        np.std(reference, axis=0, ddof=1) if len(reference) > 1 else np.zeros(reference.shape[1])
    )
    return scales


def feature_effects(
    reference: FloatArray,
    batch: FloatArray,
    scales: FloatArray | None = None,
    distances: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Each feature's effect size and standardised mean shift.

    Args:
        reference: reference rows, ``(n, d)``.
        batch: tested rows, ``(m, d)``.
        scales: the reference's column standard deviations (:func:`reference_scales`),
            computed here when None.
        distances: the columns' Wasserstein-1 distances
            (:meth:`~mlflow_monitor.drift.ecdf.ColumnGaps.wasserstein`), computed here when
            None.

    Returns:
        ``(effect, mean_shift)``: the Wasserstein-1 distance and the difference of the
        means (batch minus reference), both in reference standard deviations. A column
        constant in the reference has effect 0 when the batch holds the same constant,
        else :data:`MAX_EFFECT`.
    """
    sd = reference_scales(reference) if scales is None else scales
    distance = ColumnGaps.of(reference, batch).wasserstein() if distances is None else distances
    shift = batch.mean(axis=0) - reference.mean(axis=0)
    constant = sd <= 0
    safe = np.where(constant, 1.0, sd)
    effect = np.where(constant, np.where(distance > 0, MAX_EFFECT, 0.0), distance / safe)
    mean_shift = np.where(
        constant, np.clip(np.sign(shift) * MAX_EFFECT, -MAX_EFFECT, MAX_EFFECT), shift / safe
    )
    return np.minimum(effect, MAX_EFFECT), np.clip(mean_shift, -MAX_EFFECT, MAX_EFFECT)
