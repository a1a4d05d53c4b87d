"""Multivariate drift backends: who runs the MMD permutation test.

``builtin`` is the exact numpy implementation in :mod:`mlflow_monitor.drift.mmd` (the default);
``alibi-detect`` is alibi-detect's ``MMDDrift`` (:mod:`mlflow_monitor.drift.alibi_backend`,
optional extra ``alibi``), imported only when chosen.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from mlflow_monitor._types import FloatArray
from mlflow_monitor.drift.mmd import MMDTestResult, mmd_permutation_test

__all__ = ["BuiltinMMD", "MMDBackend", "backend_named"]


class MMDBackend(Protocol):
    """What a multivariate drift backend provides."""

    name: str

    def test(
        self,
        x_ref: FloatArray,
        x: FloatArray,
        sigma: float,
        n_permutations: int,
        p_val: float,
        rng: np.random.Generator,
    ) -> MMDTestResult:
        """Run the MMD permutation test of ``x`` against ``x_ref``."""
        ...


class BuiltinMMD:
    """The exact numpy implementation in :mod:`mlflow_monitor.drift.mmd`.

    Args:
        dtype: precision of the kernel products, ``"float64"`` or ``"float32"``.
    """

    name = "builtin"

    def __init__(self, dtype: str = "float64") -> None:
        self.dtype = np.dtype(dtype)

    def test(
        self,
        x_ref: FloatArray,
        x: FloatArray,
        sigma: float,
        n_permutations: int,
        p_val: float,
        rng: np.random.Generator,
    ) -> MMDTestResult:
        """Run :func:`mlflow_monitor.drift.mmd.mmd_permutation_test`."""
        return mmd_permutation_test(x_ref, x, sigma, n_permutations, p_val, rng, dtype=self.dtype)


def backend_named(name: str, dtype: str) -> MMDBackend:
    """The backend called ``name`` (``"builtin"`` or ``"alibi-detect"``)."""
    if name == "builtin":
        return BuiltinMMD(dtype)
    from mlflow_monitor.drift.alibi_backend import AlibiMMD

    return AlibiMMD()
