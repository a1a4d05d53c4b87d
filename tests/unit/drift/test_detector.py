from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor import (
    ConfigError,
    DataValidationError,
    DriftDetector,
    MonitorConfig,
    NotFittedError,
)
from mlflow_monitor.drift import adjust_p_values
from mlflow_monitor.drift import backends as drift_module


def test_detects_a_mean_shift_and_names_the_feature(rng):
    reference = pd.DataFrame(rng.normal(size=(500, 3)), columns=["length", "stars", "caps"])
    batch = rng.normal(size=(200, 3))
    batch[:, 1] += 1.0
    result = DriftDetector(p_val=0.05, random_seed=0).fit(reference).detect(batch)
    assert result.drift_detected
    assert result.p_value < 0.05
    assert result.distance > result.distance_threshold
    assert result.drifted_features == ["stars"]
    assert [f.name for f in result.features] == ["length", "stars", "caps"]
    assert (result.n_reference, result.n_test) == (500, 200)


def test_no_drift_on_the_same_distribution(rng):
    detector = DriftDetector(p_val=0.01, random_seed=0).fit(rng.normal(size=(500, 3)))
    result = detector.detect(rng.normal(size=(300, 3)))
    assert not result.drift_detected
    assert result.drifted_features == []
    assert result.p_value >= 0.01


def test_preprocess_fn_applies_to_reference_and_batches():
    def lengths(texts):
        return np.array([[len(t), t.count("!")] for t in texts], dtype=float)

    short = ["good product", "ok", "works fine", "nice!", "bad"] * 40
    detector = DriftDetector(p_val=0.01, preprocess_fn=lengths, random_seed=0).fit(short)
    assert detector.n_features == 2
    assert not detector.detect(list(reversed(short))).drift_detected
    shouting = ["AMAZING!!! best thing ever!!! buy it now!!!"] * 100
    assert detector.detect(shouting).drift_detected


def test_preprocess_errors_are_reported_as_data_errors():
    def broken(batch):
        raise RuntimeError("tokenizer exploded")

    with pytest.raises(DataValidationError, match="preprocess_fn failed on the reference"):
        DriftDetector(preprocess_fn=broken).fit([[1.0], [2.0]])


def test_update_ref_keeps_the_most_recent_rows(rng):
    reference = np.arange(20, dtype=float).reshape(10, 2)
    detector = DriftDetector(update_ref={"last": 6}, random_seed=0).fit(reference)
    np.testing.assert_array_equal(detector.reference_, reference[-6:])
    batch = 100 + np.arange(8, dtype=float).reshape(4, 2)
    detector.detect(batch)
    np.testing.assert_array_equal(detector.reference_, np.vstack([reference[-2:], batch]))


def test_fixed_reference_without_update_policy(rng):
    reference = rng.normal(size=(50, 2))
    detector = DriftDetector(update_ref=None, random_seed=0).fit(reference)
    detector.detect(rng.normal(size=(30, 2)))
    np.testing.assert_array_equal(detector.reference_, reference)


def test_sigma_scales_the_bandwidth(rng):
    reference = rng.normal(size=(100, 2))
    base = DriftDetector(update_ref={"last": 100, "sigma": 1.0}).fit(reference).sigma_
    wide = DriftDetector(update_ref={"last": 100, "sigma": 2.5}).fit(reference).sigma_
    assert wide == pytest.approx(2.5 * base)


def test_seeded_detectors_are_reproducible(rng):
    reference, batch = rng.normal(size=(100, 2)), rng.normal(size=(80, 2)) + 0.1
    a = DriftDetector(random_seed=4, update_ref=None).fit(reference).detect(batch)
    b = DriftDetector(random_seed=4, update_ref=None).fit(reference).detect(batch)
    assert a.p_value == b.p_value


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (np.ones((10, 3)), "must have 2 columns like the reference, got 3"),
        (np.array([[1.0, np.nan], [1.0, 2.0]]), "must be finite numbers, got nan"),
        (np.array([[1.0, np.inf], [1.0, 2.0]]), "must be finite numbers, got inf"),
        ([["a", "b"], ["c", "d"]], "must be numeric"),
        (np.ones((1, 2)), "at least 2 rows"),
        (np.ones((0, 2)), "must not be empty"),
    ],
    ids=["width", "nan", "inf", "strings", "one-row", "empty"],
)
def test_bad_batches_are_rejected_without_changing_the_reference(rng, batch, message):
    detector = DriftDetector().fit(rng.normal(size=(20, 2)))
    before = detector.reference_.copy()
    with pytest.raises(DataValidationError, match=message):
        detector.detect(batch)
    np.testing.assert_array_equal(detector.reference_, before)


def test_detect_before_fit():
    with pytest.raises(NotFittedError, match="call fit"):
        DriftDetector().detect(np.ones((5, 2)))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"p_val": 0},
        {"p_val": 1.2},
        {"n_permutations": 0},
        {"backend": "gpu"},
        {"feature_correction": "sidak"},
        {"preprocess_fn": "not callable"},
        {"update_ref": {"last": 1}},
        {"dtype": "float16"},
        {"dtype": np.float32},
    ],
    ids=str,
)
def test_bad_parameters(kwargs):
    with pytest.raises(ConfigError):
        DriftDetector(**kwargs)


def test_float32_gives_the_float64_verdict_and_statistic(rng):
    reference = rng.normal(size=(400, 4))
    batches = [rng.normal(size=(300, 4)), rng.normal(size=(300, 4)) + [0.0, 0.4, 0.0, 0.0]]
    for batch in batches:
        results = [
            DriftDetector(random_seed=3, update_ref=None, dtype=dtype).fit(reference).detect(batch)
            for dtype in ("float64", "float32")
        ]
        wide, narrow = results
        # Absolute: without drift MMD² is close to 0, where relative error means nothing.
        assert narrow.distance == pytest.approx(wide.distance, rel=0, abs=1e-8)
        assert narrow.p_value == wide.p_value  # same seed, same splits
        assert narrow.drift_detected == wide.drift_detected
    assert [r.drift_detected for r in results] == [True, True]


def test_dtype_reaches_the_builtin_backend(monkeypatch, rng):
    seen = []
    original = drift_module.mmd_permutation_test

    def spy(*args, **kwargs):
        seen.append(kwargs["dtype"])
        return original(*args, **kwargs)

    monkeypatch.setattr(drift_module, "mmd_permutation_test", spy)
    config = MonitorConfig.from_dict({"drift_dtype": "float32"})
    detector = DriftDetector.from_config(config).fit(rng.normal(size=(50, 2)))
    detector.detect(rng.normal(size=(40, 2)))
    DriftDetector().fit(rng.normal(size=(50, 2))).detect(rng.normal(size=(40, 2)))
    assert seen == [np.float32, np.float64]
    assert detector.get_state()[0]["dtype"] == "float32"


def test_float32_is_refused_for_the_alibi_backend():
    with pytest.raises(ConfigError, match="alibi-detect backend computes in float64"):
        DriftDetector(backend="alibi-detect", dtype="float32")


def test_p_value_corrections_against_hand_computed_values():
    p = np.array([0.01, 0.04, 0.03, 0.5])
    np.testing.assert_allclose(adjust_p_values(p, "bonferroni"), [0.04, 0.16, 0.12, 1.0])
    # Holm: sorted 0.01*4, 0.03*3, 0.04*2, 0.5*1, made monotone
    np.testing.assert_allclose(adjust_p_values(p, "holm"), [0.04, 0.09, 0.09, 0.5])
    # Benjamini-Hochberg: 0.01*4/1, 0.03*4/2, 0.04*4/3, 0.5*4/4, made monotone from the top
    np.testing.assert_allclose(
        adjust_p_values(p, "fdr"), [0.04, 0.05333333, 0.05333333, 0.5], rtol=1e-6
    )


def test_unreachable_p_val_is_refused():
    with pytest.raises(ConfigError, match="can never be reached"):
        DriftDetector(p_val=0.001, n_permutations=100)
