"""The built-in MMD against alibi-detect's MMDDrift on the same data and bandwidth."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from mlflow_monitor import DriftDetector, MissingDependencyError
from mlflow_monitor.drift.mmd import median_heuristic_sigma, mmd_permutation_test

pytestmark = pytest.mark.alibi


@pytest.fixture(scope="module")
def mmd_drift():
    pytest.importorskip("torch")
    return pytest.importorskip("alibi_detect.cd").MMDDrift


CASES = {
    "no-shift": (0.0, 1.0),
    "mean-shift": (0.4, 1.0),
    "scale-shift": (0.0, 1.8),
}


@pytest.mark.parametrize("shift,scale", CASES.values(), ids=CASES.keys())
def test_statistic_matches_alibi_detect_float64(mmd_drift, shift, scale):
    rng = np.random.default_rng(7)
    x_ref = rng.normal(size=(400, 6))
    x = rng.normal(loc=shift, scale=scale, size=(300, 6))
    sigma = median_heuristic_sigma(x_ref)
    ours = mmd_permutation_test(x_ref, x, sigma, n_permutations=20, rng=rng)
    detector = mmd_drift(
        x_ref,
        backend="pytorch",
        sigma=np.array([sigma]),
        configure_kernel_from_x_ref=False,
        n_permutations=20,
    )
    _, theirs, _ = detector.score(x)
    assert abs(ours.statistic - theirs) <= 1e-4 * abs(theirs)


def test_median_heuristic_matches_alibi_detect_inferred_sigma(mmd_drift):
    rng = np.random.default_rng(8)
    x_ref = rng.normal(size=(300, 4)) * [1, 2, 3, 4]
    detector = mmd_drift(x_ref, backend="pytorch", n_permutations=5)  # infers sigma from x_ref
    theirs = float(detector._detector.kernel.sigma.detach().numpy()[0])
    assert median_heuristic_sigma(x_ref) == pytest.approx(theirs, rel=1e-6)


def test_alibi_backend_through_the_detector_front_end(mmd_drift):
    rng = np.random.default_rng(9)
    reference = rng.normal(size=(300, 3))
    batch = rng.normal(loc=0.5, size=(200, 3))
    builtin = DriftDetector(backend="builtin", random_seed=1).fit(reference).detect(batch)
    alibi = DriftDetector(backend="alibi-detect", random_seed=1).fit(reference).detect(batch)
    assert alibi.backend == "alibi-detect"
    assert alibi.distance == pytest.approx(builtin.distance, rel=1e-4)
    assert alibi.drift_detected and builtin.drift_detected
    assert [f.p_value for f in alibi.features] == [f.p_value for f in builtin.features]


def test_missing_alibi_detect_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name.startswith("alibi_detect"):
            raise ImportError("No module named 'alibi_detect'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    with pytest.raises(MissingDependencyError, match=r"pip install 'mlflow-monitor\[alibi\]'"):
        DriftDetector(backend="alibi-detect")
