"""One verdict per check from all its tests.

A check runs the multivariate MMD test and one Kolmogorov-Smirnov test per feature, the
latter already corrected for their number (``drift_feature_correction``). The check's
p-value joins the two families with a Bonferroni bound::

    p = min(1, 2 * min(p_mmd, min adjusted p_feature))

so ``p < drift_p_value`` happens, without drift, at most at rate ``drift_p_value``
(family-wise over every test the check ran), and the features shown as drifted are those
whose *adjusted* p-value is below the level: what is shown is what was decided. The check's
score ``Φ⁻¹(1 - p)`` is what the alarm policy (:mod:`~mlflow_monitor.drift.alarm`)
accumulates.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlflow_monitor.drift.alarm import MAX_SCORE
from mlflow_monitor.results import FeatureDrift

__all__ = ["check_p_value", "check_score"]


def check_p_value(mmd_p_value: float, features: Sequence[FeatureDrift]) -> float:
    """The family-wise p-value of a check: MMD and the corrected per-feature tests."""
    smallest = min([mmd_p_value, *(f.adjusted_p_value for f in features)])
    families = 2 if features else 1
    return min(1.0, families * smallest)


def check_score(p_value: float) -> float:
    """The standardised score ``Φ⁻¹(1 - p)`` of a p-value, within ``±MAX_SCORE``."""
    from scipy.special import ndtri

    score = -float(ndtri(min(max(p_value, 0.0), 1.0)))
    return min(max(score, -MAX_SCORE), MAX_SCORE)
