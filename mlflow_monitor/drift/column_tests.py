"""Two-sample tests of one column, by kind, each with an effect size a person can read.

- numbers (numeric and datetime columns, text descriptors): the Kolmogorov-Smirnov test on
  the values present; effect size, the Wasserstein distance in reference standard deviations;
- categories: the chi-square test of the category counts (the reference's categories, the
  rare ones pooled, and one bin for categories the reference never had); effect size, the
  Jensen-Shannon distance (base 2, from 0 for the same shares to 1 for disjoint ones).

Missing values are left out of the tests (the data quality result counts them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mlflow_monitor._types import FloatArray

__all__ = ["CategoryTest", "NumberTest", "category_test", "number_test", "token_changes"]

OTHER = "<other>"
UNSEEN = "<unseen>"


@dataclass(frozen=True)
class NumberTest:
    """A KS test of one numeric column."""

    statistic: float
    p_value: float
    effect_size: float


@dataclass(frozen=True)
class CategoryTest:
    """A chi-square test of one categorical column."""

    statistic: float
    p_value: float
    effect_size: float
    unseen_share: float


def number_test(reference: FloatArray, current: FloatArray) -> NumberTest:
    """KS test and Wasserstein effect size of two samples (NaN left out).

    With fewer than one value on a side there is nothing to compare: statistic 0, p 1.
    """
    from scipy.stats import ks_2samp, wasserstein_distance

    ref = reference[np.isfinite(reference)]
    cur = current[np.isfinite(current)]
    if not ref.size or not cur.size:
        return NumberTest(0.0, 1.0, 0.0)
    outcome = ks_2samp(ref, cur)
    scale = float(np.std(ref)) or 1.0
    return NumberTest(
        float(outcome.statistic),
        float(outcome.pvalue),
        float(wasserstein_distance(ref, cur)) / scale,
    )


def category_test(
    reference_counts: Mapping[str, int], known: set[str], current: Sequence[str | None]
) -> CategoryTest:
    """Chi-square test and Jensen-Shannon effect size of category counts.

    Args:
        reference_counts: the reference's count per kept category (rare ones pooled in
            ``"<other>"``).
        known: every category the reference had (kept or pooled).
        current: the tested values as text, None for missing.

    Returns:
        The test; ``unseen_share`` is the share of present values not in ``known``.
    """
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency

    present = [v for v in current if v is not None]
    if not present or not sum(reference_counts.values()):
        return CategoryTest(0.0, 1.0, 0.0, 0.0)
    counts: Counter[str] = Counter()
    unseen = 0
    for value in present:
        if value in reference_counts:
            counts[value] += 1
        elif value in known:
            counts[OTHER] += 1
        else:
            counts[UNSEEN] += 1
            unseen += 1
    bins = sorted(set(reference_counts) | set(counts))
    table = np.array([[reference_counts.get(b, 0) for b in bins], [counts.get(b, 0) for b in bins]])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:  # one category on both sides: nothing can differ
        return CategoryTest(0.0, 1.0, 0.0, unseen / len(present))
    statistic, p_value, _, _ = chi2_contingency(table, correction=False)
    shares = table / table.sum(axis=1, keepdims=True)
    distance = float(jensenshannon(shares[0], shares[1], base=2))
    return CategoryTest(float(statistic), float(p_value), distance, unseen / len(present))


def token_changes(
    reference_shares: Mapping[str, float], texts: Sequence[str | None], top: int = 5
) -> dict[str, float]:
    """The ``top`` tokens whose share of all words changed most against the reference.

    Returns:
        Token to change (current share minus reference share), largest change first.
    """
    counts: Counter[str] = Counter()
    for text in texts:
        if text:
            counts.update(text.lower().split())
    total = sum(counts.values())
    if not total:
        return {}
    tokens = set(counts) | set(reference_shares)
    change = {t: counts.get(t, 0) / total - reference_shares.get(t, 0.0) for t in tokens}
    ranked = sorted(change.items(), key=lambda item: (-abs(item[1]), item[0]))[:top]
    return {token: float(delta) for token, delta in ranked if delta != 0}
