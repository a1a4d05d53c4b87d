"""Per-column CDF gaps: the KS statistic and the Wasserstein distance are scipy's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import kolmogorov
from scipy.stats import ks_2samp, wasserstein_distance

from mlflow_monitor.drift.ecdf import ColumnGaps, sorted_columns
from mlflow_monitor.drift.univariate import EXACT_MAX_PAIRS, ks_feature_tests

CASES = {
    "continuous": lambda rng: (rng.normal(size=(700, 3)), rng.normal(0.2, 1.0, size=(400, 3))),
    "ties": lambda rng: (
        rng.integers(0, 4, size=(300, 2)) * 1.0,
        rng.integers(0, 5, (200, 2)) * 1.0,
    ),
    "constant": lambda rng: (np.ones((50, 1)), np.ones((40, 1))),
}


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_ks_statistic_and_wasserstein_match_scipy(rng, make):
    reference, batch = make(rng)
    gaps = ColumnGaps.of(reference, batch)
    cached = ColumnGaps.of(reference, batch, sorted_columns(reference))
    expected = ks_2samp(reference, batch, axis=0).statistic
    np.testing.assert_allclose(gaps.ks_statistics(), np.atleast_1d(expected), rtol=1e-14)
    np.testing.assert_array_equal(cached.ks_statistics(), gaps.ks_statistics())
    w1 = [wasserstein_distance(reference[:, j], batch[:, j]) for j in range(reference.shape[1])]
    np.testing.assert_allclose(gaps.wasserstein(), w1, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("n", "m"), [(1200, 1200), (1500, 1000)], ids=["n=m", "n!=m"])
def test_large_samples_use_the_kolmogorov_distribution(rng, n, m):
    reference = rng.normal(size=(n, 3))
    batch = rng.normal(0.08, 1.0, size=(m, 3))
    assert n * m > EXACT_MAX_PAIRS
    features = ks_feature_tests(reference, batch, ["a", "b", "c"], 0.05, "bonferroni")
    exact = ks_2samp(reference, batch, axis=0, method="exact")
    np.testing.assert_allclose([f.statistic for f in features], exact.statistic, rtol=1e-14)
    expected = kolmogorov(np.sqrt(n * m / (n + m)) * exact.statistic)
    np.testing.assert_allclose([f.p_value for f in features], expected, rtol=1e-12)
    ours = np.array([f.p_value for f in features])
    np.testing.assert_allclose(ours, exact.pvalue, rtol=0.01 if n == m else 0.06)
    if n != m:
        assert np.all(ours >= exact.pvalue)  # conservative


def test_small_samples_keep_scipys_exact_p_values(rng):
    reference, batch = rng.normal(size=(300, 2)), rng.normal(0.1, 1.0, size=(200, 2))
    features = ks_feature_tests(reference, batch, ["a", "b"], 0.05, "holm")
    expected = ks_2samp(reference, batch, axis=0)  # method "auto": exact at this size
    np.testing.assert_array_equal([f.p_value for f in features], expected.pvalue)
