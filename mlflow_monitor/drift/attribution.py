"""Attribution: which features drove a drift verdict, and by how much.

Each feature's evidence is how far its Kolmogorov-Smirnov statistic lies beyond what
sampling noise alone gives. ``λ = D √(n m / (n + m))`` is distributed about the same for
every feature without drift (Kolmogorov's distribution, median 0.83, 95th percentile 1.36),
whatever the sample sizes, so features can be compared by it. A feature's share is
``max(0, λ - 1)²`` over the sum of them: features inside the noise get none, and a feature
that moved much more than the others takes most of the share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mlflow_monitor.results import FeatureDrift, FeatureShare

__all__ = ["NOISE_LEVEL", "feature_shares"]

# λ up to about the median of Kolmogorov's distribution and a little beyond is noise.
NOISE_LEVEL = 1.0


def feature_shares(
    features: Sequence[FeatureDrift], n_reference: int, n_test: int
) -> tuple[FeatureShare, ...]:
    """The features with evidence, ranked by their share of it (largest first).

    Args:
        features: the per-feature tests of one check.
        n_reference: rows in the reference.
        n_test: rows in the tested window.

    Returns:
        One :class:`~mlflow_monitor.results.FeatureShare` per feature whose statistic is
        beyond noise, shares summing to 1; empty when none is.
    """
    scale = math.sqrt(n_reference * n_test / (n_reference + n_test))
    weights = [max(0.0, f.statistic * scale - NOISE_LEVEL) ** 2 for f in features]
    total = sum(weights)
    if total <= 0:
        return ()
    ranked = sorted(
        zip(features, weights, strict=True), key=lambda pair: (-pair[1], -pair[0].effect)
    )
    return tuple(
        FeatureShare(feature.name, weight / total, feature.effect)
        for feature, weight in ranked
        if weight > 0
    )
