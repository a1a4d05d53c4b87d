"""DriftDetector(mmd_null="gamma"): the MMD verdict without permutations, its reference work
done once at fit, and its options."""

from __future__ import annotations

import pytest

from mlflow_monitor import ConfigError, DriftDetector, MonitorConfig
from mlflow_monitor.drift import mmd_gamma
from mlflow_monitor.drift.mmd import mmd_permutation_test


@pytest.fixture
def kernel_calls(monkeypatch):
    calls = []
    original = mmd_gamma.ReferenceKernel.of.__func__

    def counted(cls, x_ref, *args, **kwargs):
        calls.append(x_ref.shape[0])
        return original(cls, x_ref, *args, **kwargs)

    monkeypatch.setattr(mmd_gamma.ReferenceKernel, "of", classmethod(counted))
    return calls


def test_same_statistic_and_verdict_as_the_permutation_test(rng):
    reference = rng.normal(size=(400, 4))
    quiet, shifted = rng.normal(size=(300, 4)), rng.normal(size=(300, 4)) + [0, 0.4, 0, 0]
    gamma = DriftDetector(mmd_null="gamma", update_ref=None).fit(reference)
    exact = DriftDetector(update_ref=None, random_seed=0).fit(reference)
    for batch, drifted in ((quiet, False), (shifted, True)):
        ours, theirs = gamma.detect(batch), exact.detect(batch)
        assert ours.distance == pytest.approx(theirs.distance, rel=1e-9, abs=1e-13)
        assert ours.drift_detected == theirs.drift_detected == drifted
        assert (ours.distance > ours.distance_threshold) == (ours.mmd_p_value < 0.05)
        assert [f.p_value for f in ours.features] == [f.p_value for f in theirs.features]


def test_the_reference_block_is_reduced_once_at_fit(rng, kernel_calls):
    reference = rng.normal(size=(600, 3))
    detector = DriftDetector(mmd_null="gamma", dtype="float32", update_ref=None).fit(reference)
    assert kernel_calls == [600]
    batches = [rng.normal(size=(200, 3)) + shift for shift in (0.0, 0.1, 0.3)]
    results = [detector.detect(batch) for batch in batches]
    assert kernel_calls == [600]  # reused by every check
    for batch, result in zip(batches, results, strict=True):
        uncached = mmd_permutation_test(reference, batch, detector.sigma_, 5)
        assert result.distance == pytest.approx(uncached.statistic, rel=0, abs=1e-8)


def test_an_updated_reference_gets_its_own_block(rng, kernel_calls):
    detector = DriftDetector(mmd_null="gamma", update_ref={"last": 300})
    detector.fit(rng.normal(size=(300, 2)))
    detector.detect(rng.normal(size=(100, 2)))
    assert kernel_calls == [300, 300]  # fit, then the reference that absorbed the window
    current = detector.reference_.copy()
    batch = rng.normal(size=(100, 2)) + 0.2
    result = detector.detect(batch)
    expected = DriftDetector(mmd_null="gamma", update_ref=None).fit(current).detect(batch)
    assert result.distance == pytest.approx(expected.distance, rel=1e-12)
    assert result.p_value == pytest.approx(expected.p_value, rel=1e-9)


def test_no_permutation_floor_on_the_level():
    DriftDetector(p_val=0.001, mmd_null="gamma")
    MonitorConfig.from_dict({"drift_p_value": 0.005, "drift_mmd_null": "gamma"})
    with pytest.raises(ConfigError, match="can never be reached"):
        MonitorConfig.from_dict({"drift_p_value": 0.005, "drift_mmd_null": "permutation"})


def test_a_large_shift_is_not_floored(rng):
    reference = rng.normal(size=(300, 3))
    result = DriftDetector(mmd_null="gamma").fit(reference).detect(reference[:200] + 1.0)
    assert result.mmd_p_value < 1e-12


@pytest.mark.parametrize(
    "kwargs",
    [{"mmd_null": "asymptotic"}, {"mmd_null": "gamma", "backend": "alibi-detect"}],
    ids=["unknown", "alibi-detect"],
)
def test_bad_options_are_refused(kwargs):
    with pytest.raises(ConfigError, match="mmd_null"):
        DriftDetector(**kwargs)


def test_config_refuses_gamma_for_alibi_detect():
    with pytest.raises(ConfigError, match="drift_mmd_null='gamma' applies to the builtin"):
        MonitorConfig.from_dict({"drift_mmd_null": "gamma", "drift_backend": "alibi-detect"})


def test_from_config_and_state_keep_the_null(rng):
    config = MonitorConfig.from_dict({"drift_mmd_null": "gamma", "drift_dtype": "float32"})
    detector = DriftDetector.from_config(config).fit(rng.normal(size=(50, 2)))
    params, arrays = detector.get_state()
    assert params["mmd_null"] == "gamma"
    restored = DriftDetector.from_state(params)
    restored.set_state(params, arrays)
    batch = rng.normal(size=(40, 2))
    assert restored.mmd_null == "gamma"
    assert restored.detect(batch).p_value == detector.detect(batch).p_value
    assert DriftDetector(**detector.get_params()).mmd_null == "gamma"
