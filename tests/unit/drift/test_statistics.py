"""Statistical behaviour of the built-in MMD test over many seeded trials.

Small samples (100 + 100 rows, 5 features) keep each trial at a few milliseconds.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_monitor.drift.mmd import median_heuristic_sigma, mmd_permutation_test

pytestmark = pytest.mark.slow

TRIALS = 200
N_ROWS, N_FEATURES = 100, 5
P_VAL, N_PERMUTATIONS = 0.05, 100
SHIFT = 0.2  # mean shift in every feature: power about 0.6, far from both 0 and 1


def samples(seed: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x_ref = rng.normal(size=(N_ROWS, N_FEATURES))
    x = rng.normal(loc=shift, size=(N_ROWS, N_FEATURES))
    return x_ref, x


def builtin_detects(seed: int, shift: float, dtype: type[np.floating]) -> bool:
    x_ref, x = samples(seed, shift)
    rng = np.random.default_rng(10_000 + seed)
    sigma = median_heuristic_sigma(x_ref, rng)
    result = mmd_permutation_test(x_ref, x, sigma, N_PERMUTATIONS, P_VAL, rng, dtype=dtype)
    return result.p_value < P_VAL


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_false_positive_rate_without_drift_is_near_the_level(dtype):
    # With 100 permutations P(p < 0.05) = 5/101 exactly under no drift; [0.02, 0.08] is
    # about +-2 binomial standard deviations over 200 trials.
    rate = np.mean([builtin_detects(seed, 0.0, dtype) for seed in range(TRIALS)])
    assert 0.02 <= rate <= 0.08


@pytest.mark.alibi
def test_detects_a_shift_at_least_as_often_as_alibi_detect():
    """Same trials, same bandwidth: the built-in test is not less powerful.

    Both tests compute the same statistic (checked on every trial) and, with 100
    permutations, the same decision rule (``#{permuted >= observed} <= 4``); detections can
    only differ where the random permutations land on different sides of the threshold.
    """
    torch = pytest.importorskip("torch")
    mmd_drift = pytest.importorskip("alibi_detect.cd").MMDDrift
    ours = theirs = 0
    for seed in range(TRIALS):
        x_ref, x = samples(seed, SHIFT)
        rng = np.random.default_rng(10_000 + seed)
        sigma = median_heuristic_sigma(x_ref, rng)
        result = mmd_permutation_test(x_ref, x, sigma, N_PERMUTATIONS, P_VAL, rng)
        detector = mmd_drift(
            x_ref,
            backend="pytorch",
            p_val=P_VAL,
            sigma=np.array([sigma]),
            configure_kernel_from_x_ref=False,
            n_permutations=N_PERMUTATIONS,
            device="cpu",
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            p_value, statistic, _ = detector.score(x)
        assert result.statistic == pytest.approx(statistic, rel=1e-4, abs=1e-12)
        ours += result.p_value < P_VAL
        theirs += p_value < P_VAL
    assert 0.3 * TRIALS < theirs < 0.9 * TRIALS  # the shift is neither missed nor obvious
    assert ours >= theirs
