"""The kernel bandwidth stored at wrap time: same value as computing it, used at load."""

from __future__ import annotations

import logging

import mlflow
import numpy as np
import pandas as pd
import pytest

import mlflow_monitor.drift.detector as drift_module
from mlflow_monitor import DataValidationError, DriftDetector
from mlflow_monitor.drift.bandwidth import ReferenceBandwidth, _digest
from mlflow_monitor.drift.mmd import median_heuristic_sigma
from mlflow_monitor.model.artifacts import load_reference_features, save_reference_features
from mlflow_monitor.model.wrap import wrap

NO_SCHEDULE = {"schedule_checks": False}


@pytest.fixture
def median_calls(monkeypatch):
    """Counts the median-heuristic computations of DriftDetector."""
    calls: list[int] = []

    def counting(x_ref, rng=None, **kwargs):
        calls.append(int(np.asarray(x_ref).shape[0]))
        return median_heuristic_sigma(x_ref, rng, **kwargs)

    monkeypatch.setattr(drift_module, "median_heuristic_sigma", counting)
    return calls


@pytest.mark.parametrize(
    ("rows", "update_ref"),
    [
        (300, None),
        (300, {"last": 1000, "sigma": 1.0}),
        (1500, {"last": 1000, "sigma": 1.0}),
        (1500, {"last": 1000, "sigma": 2.5}),
        (800, {"last": 200, "sigma": 0.3}),
    ],
    ids=["all-rows", "fewer-than-last", "last-rows", "scaled", "few-kept-scaled"],
)
def test_stored_bandwidth_gives_the_computed_sigma(rng, median_calls, rows, update_ref):
    reference = rng.normal(size=(rows, 6))
    computed = DriftDetector(update_ref=update_ref).fit(reference).sigma_
    keep = None if update_ref is None else update_ref["last"]
    bandwidth = ReferenceBandwidth.of(reference, keep)
    assert bandwidth is not None and bandwidth.rows == min(rows, keep or rows)
    median_calls.clear()
    loaded = DriftDetector(update_ref=update_ref).fit(reference, bandwidth=bandwidth)
    assert loaded.sigma_ == computed  # exactly: the scale is applied to the same number
    assert median_calls == []
    np.testing.assert_array_equal(loaded.reference_, reference[-(keep or rows) :])


def test_the_stored_value_is_unscaled(rng):
    reference = rng.normal(size=(400, 4))
    bandwidth = ReferenceBandwidth.of(reference, 1000)
    assert bandwidth is not None
    assert bandwidth.sigma == median_heuristic_sigma(reference)
    scaled = DriftDetector(update_ref={"last": 1000, "sigma": 3.0})
    assert scaled.fit(reference, bandwidth=bandwidth).sigma_ == bandwidth.sigma * 3.0


@pytest.mark.parametrize(
    ("stored_keep", "detector_keep"),
    [(None, 1000), (1000, None), (1000, 500)],
    ids=["stored-all-kept-last", "stored-last-keeps-all", "other-last"],
)
def test_a_bandwidth_of_other_rows_is_recomputed(rng, median_calls, stored_keep, detector_keep):
    reference = rng.normal(size=(1500, 5))
    update_ref = None if detector_keep is None else {"last": detector_keep, "sigma": 1.0}
    expected = DriftDetector(update_ref=update_ref).fit(reference).sigma_
    bandwidth = ReferenceBandwidth.of(reference, stored_keep)
    median_calls.clear()
    detector = DriftDetector(update_ref=update_ref).fit(reference, bandwidth=bandwidth)
    assert detector.sigma_ == expected
    assert median_calls == [detector.reference_.shape[0]]


def test_a_bandwidth_of_other_values_is_recomputed(rng, median_calls):
    reference = rng.normal(size=(500, 4))
    other = reference.copy()
    other[-1, 0] += 1e-9  # same shape, one value apart
    bandwidth = ReferenceBandwidth.of(reference, 1000)
    median_calls.clear()
    detector = DriftDetector().fit(other, bandwidth=bandwidth)
    assert median_calls == [500]
    assert detector.sigma_ == DriftDetector().fit(other).sigma_


def test_subsampled_references_store_nothing_and_keep_the_random_stream(rng):
    reference = rng.normal(size=(4500, 3))
    assert ReferenceBandwidth.of(reference) is None
    batch = rng.normal(0.1, 1.0, size=(300, 3))
    plain = DriftDetector(update_ref=None, random_seed=7).fit(reference)
    # a hand-made value for more rows than the heuristic uses is not taken: taking it would
    # skip the subsample's draws and change every later permutation
    given = DriftDetector(update_ref=None, random_seed=7).fit(
        reference, bandwidth=ReferenceBandwidth(1.0, 4500, _digest(reference))
    )
    assert given.sigma_ == plain.sigma_
    assert given.detect(batch).p_value == plain.detect(batch).p_value


@pytest.mark.parametrize(
    ("sigma", "rows", "digest"),
    [
        (0.0, 10, "0" * 64),
        (-1.0, 10, "0" * 64),
        (float("nan"), 10, "0" * 64),
        (float("inf"), 10, "0" * 64),
        (True, 10, "0" * 64),
        (1.0, 1, "0" * 64),
        (1.0, 10, "0" * 63),
        (1.0, 10, "g" * 64),
    ],
    ids=["zero", "negative", "nan", "inf", "bool", "one-row", "short-digest", "not-hex"],
)
def test_bandwidth_values_are_validated(sigma, rows, digest):
    with pytest.raises(DataValidationError, match="bandwidth"):
        ReferenceBandwidth(sigma, rows, digest)


def test_reference_features_file_round_trip(rng, tmp_path):
    features = rng.normal(size=(500, 4))
    path = tmp_path / "reference_features.npz"
    stored = save_reference_features(path, features, keep_last=300)
    assert stored is not None
    assert (stored.sigma, stored.rows) == (median_heuristic_sigma(features[-300:]), 300)
    loaded, bandwidth = load_reference_features(path)
    np.testing.assert_array_equal(loaded, features)
    assert bandwidth == stored


def test_files_without_a_bandwidth_still_load(rng, tmp_path, caplog):
    features = rng.normal(size=(50, 2))
    old = tmp_path / "old.npz"
    np.savez(old, features=features)  # what wrap wrote before the bandwidth was stored
    loaded, bandwidth = load_reference_features(old)
    np.testing.assert_array_equal(loaded, features)
    assert bandwidth is None
    bad = tmp_path / "bad.npz"
    np.savez(
        bad,
        features=features,
        bandwidth=np.float64(-1.0),
        bandwidth_rows=np.int64(50),
        bandwidth_digest=np.str_(_digest(features)),
    )
    with caplog.at_level(logging.WARNING, logger="mlflow_monitor.model.wrap"):
        assert load_reference_features(bad)[1] is None
    assert "ignoring the stored bandwidth" in caplog.text


# -- through wrap and mlflow.pyfunc.load_model ------------------------------------------------


@pytest.fixture(scope="module")
def numeric_model(embedded_tracking):
    """A numeric classifier registered as ``bandwidth-model`` v1, and its training frame."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(600, 3)), columns=["length", "stars", "caps"])
    labels = (frame["caps"] > 0).astype(int)
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            LogisticRegression().fit(frame, labels),
            name="m",
            registered_model_name="bandwidth-model",
            input_example=frame.head(2),
        )
    return frame


def _loaded_detector(uri: str) -> DriftDetector:
    model = mlflow.pyfunc.load_model(uri, model_config=NO_SCHEDULE)
    monitor = model.unwrap_python_model().monitor
    monitor.close()
    assert monitor.drift_detector is not None
    return monitor.drift_detector


@pytest.mark.parametrize(
    "update_ref",
    [None, {"last": 1000, "sigma": 1.0}, {"last": 250, "sigma": 2.0}],
    ids=["keep-all", "default", "last-250-scaled"],
)
def test_loading_a_wrapped_model_uses_the_stored_bandwidth(
    numeric_model, median_calls, tmp_path, update_ref
):
    wrapped = wrap(
        "models:/bandwidth-model/1",
        numeric_model,
        {"accuracy": 0.9},
        config={"drift_update_ref": update_ref, "log_checks": False},
        registered_model_name="bandwidth-model-monitored",
    )
    local = mlflow.artifacts.download_artifacts(wrapped.uri, dst_path=str(tmp_path))
    features, bandwidth = load_reference_features(f"{local}/artifacts/reference_features.npz")
    assert bandwidth is not None
    expected = DriftDetector(update_ref=update_ref).fit(features).sigma_
    median_calls.clear()
    detector = _loaded_detector(wrapped.uri)
    assert median_calls == []
    assert detector.sigma_ == expected

    # A model wrapped before the bandwidth was stored computes the same value at load.
    np.savez(f"{local}/artifacts/reference_features.npz", features=features)
    old = _loaded_detector(local)
    assert median_calls == [old.reference_.shape[0]]
    assert old.sigma_ == expected
