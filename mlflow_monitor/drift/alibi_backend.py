"""alibi-detect's ``MMDDrift`` (pytorch backend) as an optional drift backend.

Install with ``pip install 'mlflow-monitor[alibi]'``. alibi-detect 0.12 and later are under
the Business Source License, which does not allow production use without a commercial
licence; the built-in backend is the default for that reason.

alibi-detect reports ``p = mean(permuted >= observed)`` (the observed statistic is not
counted), so its p-values can be 0 and are slightly smaller than the built-in backend's
``(1 + #{permuted >= observed}) / (1 + P)``. The statistic itself is the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlflow_monitor._types import FloatArray
from mlflow_monitor.drift.mmd import MMDTestResult
from mlflow_monitor.exceptions import MissingDependencyError

__all__ = ["AlibiMMD", "import_alibi_mmd"]

_INSTALL_HINT = (
    "the 'alibi-detect' drift backend needs alibi-detect with its pytorch backend; "
    "install it with: pip install 'mlflow-monitor[alibi]'"
)


def import_alibi_mmd() -> Any:
    """Import ``alibi_detect.cd.MMDDrift`` and torch, or explain what to install.

    Raises:
        MissingDependencyError: alibi-detect or torch is not installed.
    """
    try:
        import torch  # noqa: F401
        from alibi_detect.cd import MMDDrift
    except ImportError as exc:
        raise MissingDependencyError(f"{_INSTALL_HINT} ({exc})") from exc
    return MMDDrift


class AlibiMMD:
    """Runs the permutation test with alibi-detect, on float64 data."""

    name = "alibi-detect"

    def __init__(self) -> None:
        self._mmd_drift = import_alibi_mmd()

    def prepare(self, x_ref: FloatArray, sigma: float) -> None:
        """Nothing: ``MMDDrift`` is built on the reference at every test."""

    def test(
        self,
        x_ref: FloatArray,
        x: FloatArray,
        sigma: float,
        n_permutations: int,
        p_val: float,
        rng: np.random.Generator,
    ) -> MMDTestResult:
        """Run ``MMDDrift.score`` with the given bandwidth.

        Data stays float64: alibi-detect's float32 path differs from the exact statistic by
        up to a few percent. Its permutations draw from torch's generator, seeded here from
        ``rng`` inside a forked RNG state so the caller's global torch state is untouched.
        """
        import torch

        detector = self._mmd_drift(
            np.asarray(x_ref, dtype=np.float64),
            backend="pytorch",
            p_val=p_val,
            sigma=np.array([sigma], dtype=np.float64),
            configure_kernel_from_x_ref=False,
            n_permutations=n_permutations,
            device="cpu",
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(0, 2**31 - 1)))
            p_value, statistic, threshold = detector.score(np.asarray(x, dtype=np.float64))
        return MMDTestResult(
            statistic=float(statistic),
            p_value=float(p_value),
            distance_threshold=float(threshold),
            sigma=float(sigma),
            n_permutations=n_permutations,
        )
