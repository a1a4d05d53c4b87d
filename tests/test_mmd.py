from __future__ import annotations

import numpy as np
import pytest

from mlflow_monitor import mmd
from mlflow_monitor.mmd import median_heuristic_sigma, mmd_permutation_test


def naive_mmd2(x, y, sigma):
    """Textbook unbiased MMD^2 with explicit loops over the kernel blocks."""
    z = np.vstack([x, y])
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    k = np.exp(-d2 / (2 * sigma**2))
    n, m = len(x), len(y)
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    sxx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return sxx + syy - 2 * kxy.mean()


def test_statistic_matches_the_textbook_formula(rng):
    x = rng.normal(size=(60, 3))
    y = rng.normal(size=(45, 3)) + 0.3
    result = mmd_permutation_test(x, y, sigma=1.3, n_permutations=10, rng=rng)
    assert result.statistic == pytest.approx(naive_mmd2(x, y, 1.3), rel=1e-10)


def test_block_wise_kernel_gives_the_same_result(rng, monkeypatch):
    x = rng.normal(size=(80, 4))
    y = rng.normal(size=(70, 4))
    whole = mmd_permutation_test(x, y, 1.0, 50, rng=np.random.default_rng(3))
    monkeypatch.setattr(mmd, "_BLOCK_ELEMENTS", 7 * 150)  # 7 rows per block
    blocks = mmd_permutation_test(x, y, 1.0, 50, rng=np.random.default_rng(3))
    assert blocks.statistic == pytest.approx(whole.statistic, rel=1e-12)
    assert blocks.p_value == whole.p_value


def test_permuted_statistics_match_explicit_permutations(rng):
    """The GEMM evaluation of each split equals recomputing MMD^2 on that split."""
    x = rng.normal(size=(30, 2))
    y = rng.normal(size=(25, 2)) + 0.5
    z = np.vstack([x, y])
    splits = mmd._split_matrix(30, 25, 5, np.random.default_rng(9))
    for column in range(splits.shape[1]):
        first = splits[:, column] == 1
        explicit = naive_mmd2(z[first], z[~first], 0.8)
        r = mmd_permutation_test(z[first], z[~first], 0.8, 1, rng=rng)
        assert r.statistic == pytest.approx(explicit, rel=1e-10)


def test_p_value_counts_the_observed_statistic(rng):
    x = rng.normal(size=(50, 2))
    y = rng.normal(size=(50, 2)) + 3.0  # far apart: no permutation reaches the observed value
    result = mmd_permutation_test(x, y, 1.0, n_permutations=99, rng=rng)
    assert result.p_value == pytest.approx(1 / 100)
    assert result.distance_threshold < result.statistic


def test_p_values_are_roughly_uniform_without_drift(rng):
    p_values = []
    for _ in range(60):
        x, y = rng.normal(size=(60, 3)), rng.normal(size=(60, 3))
        p_values.append(mmd_permutation_test(x, y, median_heuristic_sigma(x), 50, rng=rng).p_value)
    p = np.array(p_values)
    assert (p < 0.05).sum() <= 9  # expected 3; 9 or more has probability < 0.003
    assert 0.35 < np.median(p) < 0.65


def test_median_heuristic_is_the_lower_median_of_pairwise_distances(rng):
    x = rng.normal(size=(41, 5))
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)[np.triu_indices(41, 1)]
    lower_median = np.sort(d2)[(d2.size - 1) // 2]
    assert median_heuristic_sigma(x) == pytest.approx(np.sqrt(0.5 * lower_median))


def test_median_heuristic_subsamples_large_references(rng):
    x = rng.normal(size=(3000, 4))
    exact = median_heuristic_sigma(x, max_rows=3000)
    approx = median_heuristic_sigma(x, rng, max_rows=500)
    assert approx == pytest.approx(exact, rel=0.05)


def test_identical_rows_fall_back_to_unit_bandwidth():
    assert median_heuristic_sigma(np.ones((10, 2))) == 1.0


def test_needs_two_rows_per_sample(rng):
    with pytest.raises(ValueError, match="at least 2 rows"):
        mmd_permutation_test(rng.normal(size=(1, 2)), rng.normal(size=(5, 2)), 1.0)
