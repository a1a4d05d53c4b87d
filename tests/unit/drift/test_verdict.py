"""One verdict per check, its score, the MMD tail beyond the permutations, effect sizes."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_monitor import DriftDetector
from mlflow_monitor.drift.effects import MAX_EFFECT, feature_effects
from mlflow_monitor.drift.mmd import gamma_tail_p_value, mmd_permutation_test
from mlflow_monitor.drift.verdict import check_p_value, check_score
from mlflow_monitor.results import FeatureDrift


def feature(adjusted: float) -> FeatureDrift:
    return FeatureDrift("f", 0.1, adjusted / 3, adjusted, adjusted < 0.05)


def test_the_check_p_value_is_family_wise_over_mmd_and_features():
    assert check_p_value(0.2, [feature(0.01), feature(0.5)]) == pytest.approx(0.02)
    assert check_p_value(0.004, [feature(0.3)]) == pytest.approx(0.008)
    assert check_p_value(0.9, [feature(0.9)]) == 1.0
    assert check_p_value(0.03, []) == 0.03


@pytest.mark.parametrize(("p", "z"), [(0.5, 0.0), (0.05, 1.645), (1e-6, 4.753)], ids=str)
def test_score_is_the_normal_quantile(p, z):
    assert check_score(p) == pytest.approx(z, abs=1e-3)


def test_score_is_bounded():
    assert check_score(0.0) == 8.0 and check_score(1.0) == -8.0


def test_a_feature_significant_after_correction_makes_the_check_significant():
    rng = np.random.default_rng(4)
    reference = rng.normal(size=(1000, 20))
    window = rng.normal(size=(300, 20))
    window[:, 7] += 0.6
    result = DriftDetector(random_seed=0).fit(reference).detect(window)
    assert result.drifted_features == ["feature_7"]
    assert result.drift_detected and result.p_value < 0.05
    shown = result.features[7]
    assert shown.adjusted_p_value == pytest.approx(min(1.0, 20 * shown.p_value))
    assert result.p_value <= 2 * shown.adjusted_p_value


def test_the_mmd_tail_goes_beyond_the_permutation_floor():
    rng = np.random.default_rng(5)
    reference = rng.normal(size=(300, 4))
    small, large = rng.normal(0.6, 1, size=(200, 4)), rng.normal(1.2, 1, size=(200, 4))
    results = [mmd_permutation_test(reference, x, 2.0, 50, rng=rng) for x in (small, large)]
    assert all(r.p_value == pytest.approx(1 / 51) for r in results)  # both at the floor
    assert results[1].tail_p_value < results[0].tail_p_value < 1 / 51


def test_the_gamma_tail_is_near_the_empirical_tail_inside_the_permutations():
    rng = np.random.default_rng(6)
    permuted = rng.gamma(3.0, 1.0, size=5000) - 3.0
    observed = float(np.quantile(permuted, 0.95))
    assert gamma_tail_p_value(observed, permuted) == pytest.approx(0.05, abs=0.01)


def test_effect_sizes_are_in_reference_standard_deviations():
    rng = np.random.default_rng(7)
    reference = rng.normal(0, 2.0, size=(20_000, 3))
    batch = rng.normal(0, 2.0, size=(20_000, 3))
    batch[:, 1] += 0.6  # 0.3 SD
    effect, shift = feature_effects(reference, batch)
    assert effect[1] == pytest.approx(0.3, abs=0.02) and shift[1] == pytest.approx(0.3, abs=0.02)
    assert effect[0] < 0.03 and effect[2] < 0.03


def test_a_column_constant_in_the_reference():
    reference = np.zeros((10, 2))
    reference[:, 1] = np.arange(10)
    same, moved = np.zeros((5, 2)), np.zeros((5, 2))
    moved[:, 0] = 1.0
    assert feature_effects(reference, same)[0][0] == 0.0
    effect, shift = feature_effects(reference, moved)
    assert effect[0] == MAX_EFFECT and shift[0] == MAX_EFFECT
