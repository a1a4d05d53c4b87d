"""The MMD² test with a gamma null: exact split moments, same statistic, calibrated p-values."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from mlflow_monitor.drift.mmd import median_heuristic_sigma, mmd_permutation_test
from mlflow_monitor.drift.mmd_gamma import mmd_gamma_test, split_moments


def _kernel(z: np.ndarray, sigma: float) -> np.ndarray:
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    k = np.exp(-d2 / (2 * sigma**2))
    np.fill_diagonal(k, 0.0)
    return k


@pytest.mark.parametrize(("n", "m"), [(4, 5), (5, 5), (3, 7)], ids=["4+5", "5+5", "3+7"])
def test_split_moments_match_every_split(n, m):
    rng = np.random.default_rng(n * 10 + m)
    z = rng.normal(size=(n + m, 3))
    k = _kernel(z, 1.3)
    total = n + m
    qs = []
    for first in combinations(range(total), n):
        v = np.full(total, -float(n))
        v[list(first)] = m
        qs.append(v @ k @ v)
    kernel_sum = k.sum()
    c = kernel_sum / (total * (total - 1))
    off = ~np.eye(total, dtype=bool)
    centred_squares = ((k - c)[off] ** 2).sum()
    rows = k.sum(1) - c * (total - 1)
    moments = split_moments(n, m, kernel_sum, centred_squares, rows @ rows)
    assert moments.mean == pytest.approx(np.mean(qs), rel=1e-10)
    assert moments.variance == pytest.approx(np.var(qs), rel=1e-9)
    assert moments.square_sum == pytest.approx(n * m * m + m * n * n)


@pytest.mark.parametrize(("n", "m", "shift"), [(300, 300, 0.0), (400, 250, 0.3)], ids=str)
def test_statistic_is_the_permutation_tests(n, m, shift):
    rng = np.random.default_rng(3)
    x_ref, x = rng.normal(size=(n, 4)), rng.normal(loc=shift, size=(m, 4))
    sigma = median_heuristic_sigma(x_ref)
    exact = mmd_permutation_test(x_ref, x, sigma, 10, rng=np.random.default_rng(0))
    wide = mmd_gamma_test(x_ref, x, sigma)
    narrow = mmd_gamma_test(x_ref, x, sigma, dtype=np.float32)
    assert wide.statistic == pytest.approx(exact.statistic, rel=1e-9, abs=1e-13)
    assert narrow.statistic == pytest.approx(exact.statistic, rel=0, abs=1e-8)
    assert narrow.p_value == pytest.approx(wide.p_value, rel=1e-3, abs=1e-6)
    assert wide.n_permutations == 0 and wide.tail_p_value == wide.p_value


def test_threads_do_not_change_the_result():
    rng = np.random.default_rng(4)
    x_ref, x = rng.normal(size=(1500, 5)), rng.normal(size=(1200, 5)) + 0.05
    results = [mmd_gamma_test(x_ref, x, 2.0, n_threads=t, dtype=np.float32) for t in (1, 2, 3)]
    for other in results[1:]:
        assert other.statistic == pytest.approx(results[0].statistic, rel=1e-6, abs=1e-12)
        assert other.p_value == pytest.approx(results[0].p_value, rel=1e-4)
    assert mmd_gamma_test(x_ref, x, 2.0, n_threads=2).statistic == (
        mmd_gamma_test(x_ref, x, 2.0, n_threads=2).statistic
    )


def test_threshold_is_where_the_p_value_reaches_the_level():
    rng = np.random.default_rng(5)
    x_ref, x = rng.normal(size=(300, 3)), rng.normal(loc=0.25, size=(300, 3))
    sigma = median_heuristic_sigma(x_ref)
    result = mmd_gamma_test(x_ref, x, sigma, p_val=0.05)
    assert (result.p_value < 0.05) == (result.statistic > result.distance_threshold)
    assert result.p_value < 0.05


@pytest.mark.parametrize("shift", [0.0, 0.1, 0.2], ids=["none", "0.1", "0.2"])
def test_p_value_is_close_to_a_long_permutation_tests(shift):
    rng = np.random.default_rng(11)
    x_ref, x = rng.normal(size=(200, 5)), rng.normal(loc=shift, size=(200, 5))
    sigma = median_heuristic_sigma(x_ref)
    gamma = mmd_gamma_test(x_ref, x, sigma)
    exact = mmd_permutation_test(x_ref, x, sigma, 4000, rng=np.random.default_rng(1))
    # 4000 permutations estimate p within about +-0.016 (2 standard errors at p = 0.5); the
    # two-moment gamma is off by up to about 0.04 in the middle of the null, less in its tail.
    assert gamma.p_value == pytest.approx(exact.p_value, abs=0.06)


def test_identical_rows_give_p_value_one():
    x = np.ones((10, 2))
    result = mmd_gamma_test(x, x.copy(), 1.0)
    assert result.p_value == 1.0
    assert result.statistic == pytest.approx(0.0, abs=1e-12)


def test_too_few_rows_and_bad_dtype_are_refused():
    with pytest.raises(ValueError, match="at least 2 rows"):
        mmd_gamma_test(np.ones((1, 2)), np.ones((5, 2)), 1.0)
    with pytest.raises(ValueError, match="float32 or float64"):
        mmd_gamma_test(np.ones((3, 2)), np.ones((5, 2)), 1.0, dtype=np.float16)


TRIALS, N_ROWS, N_FEATURES, SHIFT = 200, 100, 5, 0.2


def _trial(seed: int, shift: float) -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    x_ref = rng.normal(size=(N_ROWS, N_FEATURES))
    x = rng.normal(loc=shift, size=(N_ROWS, N_FEATURES))
    return x_ref, x, median_heuristic_sigma(x_ref)


@pytest.mark.slow
def test_false_positive_rate_without_drift_is_near_the_level():
    # 1000 trials (a millisecond each): one binomial standard deviation at 0.05 is 0.007;
    # the bounds are -2 and +3 of them (the two-moment gamma is a little light-tailed).
    trials = 1000
    rate = np.mean([mmd_gamma_test(*_trial(seed, 0.0)).p_value < 0.05 for seed in range(trials)])
    assert 0.036 <= rate <= 0.071


@pytest.mark.slow
def test_detects_a_shift_about_as_often_as_the_permutation_test():
    """Same trials and bandwidth: the gamma p-value and a 100-permutation p-value are two
    estimates of the same permutation p-value, so their detections differ only near 0.05."""
    ours = theirs = 0
    for seed in range(TRIALS):
        x_ref, x, sigma = _trial(seed, SHIFT)
        ours += mmd_gamma_test(x_ref, x, sigma).p_value < 0.05
        exact = mmd_permutation_test(x_ref, x, sigma, 100, rng=np.random.default_rng(seed))
        theirs += exact.p_value < 0.05
    assert 0.3 * TRIALS < theirs < 0.9 * TRIALS  # the shift is neither missed nor obvious
    assert ours >= theirs - 0.03 * TRIALS


@pytest.mark.slow
@pytest.mark.alibi
def test_detects_a_shift_at_least_as_often_as_alibi_detect():
    torch = pytest.importorskip("torch")
    mmd_drift = pytest.importorskip("alibi_detect.cd").MMDDrift
    ours = theirs = 0
    for seed in range(TRIALS):
        x_ref, x, sigma = _trial(seed, SHIFT)
        ours += mmd_gamma_test(x_ref, x, sigma).p_value < 0.05
        detector = mmd_drift(
            x_ref,
            backend="pytorch",
            p_val=0.05,
            sigma=np.array([sigma]),
            configure_kernel_from_x_ref=False,
            n_permutations=100,
            device="cpu",
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            theirs += detector.score(x)[0] < 0.05
    assert ours >= theirs
