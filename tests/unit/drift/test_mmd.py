from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mlflow_monitor.drift import mmd
from mlflow_monitor.drift.mmd import median_heuristic_sigma, mmd_permutation_test


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
    monkeypatch.setattr(mmd, "_BLOCK_ROWS", 7)  # 22 block rows, one short
    blocks = mmd_permutation_test(x, y, 1.0, 50, rng=np.random.default_rng(3))
    assert blocks.statistic == pytest.approx(whole.statistic, rel=1e-12)
    assert blocks.p_value == whole.p_value


def test_permuted_statistics_match_explicit_permutations(rng):
    """Each split's statistic, evaluated through the quadratic forms, equals recomputing MMD^2
    on that split: the p-value and threshold equal those of the explicit permutations."""
    x = rng.normal(size=(30, 2))
    y = rng.normal(size=(25, 2)) + 0.3
    z = np.vstack([x, y])
    draws = np.random.default_rng(9)  # split k puts rows permutation(55)[:30] first
    explicit = []
    for _ in range(40):
        first = np.zeros(55, dtype=bool)
        first[draws.permutation(55)[:30]] = True
        explicit.append(naive_mmd2(z[first], z[~first], 0.8))
    observed = naive_mmd2(x, y, 0.8)
    result = mmd_permutation_test(x, y, 0.8, 40, p_val=0.1, rng=np.random.default_rng(9))
    assert result.statistic == pytest.approx(observed, rel=1e-10)
    assert result.p_value == (1 + sum(e >= observed for e in explicit)) / 41
    assert result.distance_threshold == pytest.approx(sorted(explicit)[-5], rel=1e-10)


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


def naive_float32_mmd2(x, y, sigma):
    """MMD^2 from the float32 kernel matrix and 0/1 group indicators, without centring."""
    z = np.vstack([x, y]).astype(np.float32)
    sq = (z * z).sum(1)
    k = z @ z.T
    k *= -2.0
    k += sq[:, None]
    k += sq[None, :]
    k *= np.float32(-1.0 / (2.0 * sigma**2))
    np.exp(k, out=k)
    np.fill_diagonal(k, 0.0)
    n, m = len(x), len(y)
    first = np.zeros(n + m, dtype=np.float32)
    first[:n] = 1.0
    row_sums = k.sum(1)
    s_xx = first @ (k @ first)
    s_xy = row_sums @ first - s_xx
    s_yy = row_sums.sum() - s_xx - 2.0 * s_xy
    return s_xx / (n * (n - 1)) + s_yy / (m * (m - 1)) - 2.0 * s_xy / (n * m)


def test_float32_matches_float64_where_naive_float32_does_not():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 4))
    y = rng.normal(size=(2000, 4)) + 0.05
    # A wide kernel and a small shift: MMD^2 is ~3e-4 of the kernel's mean (0.9), and naive
    # float32 sums are off by ~5e-4 relative.
    sigma = 3.0 * median_heuristic_sigma(x)
    exact = mmd_permutation_test(x, y, sigma, 20, rng=np.random.default_rng(1))
    fast = mmd_permutation_test(x, y, sigma, 20, rng=np.random.default_rng(1), dtype=np.float32)
    assert abs(naive_float32_mmd2(x, y, sigma) / exact.statistic - 1) > 1e-4
    assert fast.statistic == pytest.approx(exact.statistic, rel=1e-4)
    assert fast.distance_threshold == pytest.approx(exact.distance_threshold, rel=1e-4)
    assert fast.p_value == exact.p_value


def test_result_does_not_depend_on_the_thread_count(rng):
    x = rng.normal(size=(700, 3))
    y = rng.normal(size=(600, 3)) + 0.1
    runs = [
        mmd_permutation_test(x, y, 1.5, 30, rng=np.random.default_rng(2), n_threads=threads)
        for threads in (1, 2, 3)
    ]
    assert runs[1] == runs[2]
    assert runs[0].statistic == pytest.approx(runs[1].statistic, rel=1e-12)
    assert runs[0].p_value == runs[1].p_value


def test_memory_stays_far_below_the_kernel_matrix(rng):
    tracemalloc = pytest.importorskip("tracemalloc")
    n = 3000
    x, y = rng.normal(size=(n, 8)), rng.normal(size=(n, 8))
    tracemalloc.start()
    try:
        mmd_permutation_test(x, y, 2.0, 20, rng=rng)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    kernel_matrix = (2 * n) ** 2 * 8
    assert peak < kernel_matrix / 20  # about 7 MB against 288 MB


def test_rejects_other_dtypes(rng):
    with pytest.raises(ValueError, match="float32 or float64"):
        mmd_permutation_test(rng.normal(size=(5, 2)), rng.normal(size=(5, 2)), 1.0, dtype=np.int64)


def test_blas_threads_are_restored_after_overlapping_calls(rng):
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [
            p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"
        ]

    before = blas_threads()
    x, y = rng.normal(size=(1500, 3)), rng.normal(size=(1500, 3))
    with ThreadPoolExecutor(3) as pool:
        jobs = [
            pool.submit(
                mmd_permutation_test, x, y, 1.0, 10, n_threads=2, rng=np.random.default_rng(k)
            )
            for k in range(6)
        ]
        results = [job.result() for job in jobs]
    assert len({r.statistic for r in results}) == 1
    assert blas_threads() == before


@pytest.mark.parametrize("d", [4, 32], ids=["d=4", "d=32"])
def test_random_pair_median_is_within_its_stated_error(d):
    # 2**16 pairs: relative standard error of sigma about 2e-3 at d = 4, 6e-4 at d = 32;
    # the bound is 5 of them.
    x = np.random.default_rng(d).normal(size=(4500, d))
    exact = median_heuristic_sigma(x, max_rows=5000)
    for seed in range(3):
        approx = median_heuristic_sigma(x, np.random.default_rng(seed))
        assert approx == pytest.approx(exact, rel=0.01 if d == 4 else 3e-3)
