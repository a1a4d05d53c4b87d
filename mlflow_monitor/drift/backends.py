"""Multivariate drift backends: who runs the MMD permutation test.

``builtin`` is the numpy implementation: the exact permutation test of
:mod:`mlflow_monitor.drift.mmd` (the default) or the gamma null of
:mod:`mlflow_monitor.drift.mmd_gamma`;
``alibi-detect`` is alibi-detect's ``MMDDrift`` (:mod:`mlflow_monitor.drift.alibi_backend`,
optional extra ``alibi``), imported only when chosen.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from mlflow_monitor._types import FloatArray
from mlflow_monitor.drift.mmd import MMDTestResult, mmd_permutation_test
from mlflow_monitor.drift.mmd_gamma import ReferenceKernel, mmd_gamma_test

__all__ = ["BuiltinMMD", "MMDBackend", "backend_named"]


class MMDBackend(Protocol):
    """What a multivariate drift backend provides."""

    name: str

    def prepare(self, x_ref: FloatArray, sigma: float) -> None:
        """Do the work that depends on the reference alone, before the first test."""
        ...

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
    """The numpy implementation in :mod:`mlflow_monitor.drift.mmd` and
    :mod:`~mlflow_monitor.drift.mmd_gamma`.

    Args:
        dtype: precision of the kernel products, ``"float64"`` or ``"float32"``.
        mmd_null: ``"permutation"`` (random splits) or ``"gamma"`` (no permutations: a gamma
            with the exact mean and variance over all splits).
    """

    name = "builtin"

    def __init__(self, dtype: str = "float64", mmd_null: str = "permutation") -> None:
        self.dtype = np.dtype(dtype)
        self.mmd_null = mmd_null
        self._reference: ReferenceKernel | None = None

    def prepare(self, x_ref: FloatArray, sigma: float) -> None:
        """With the gamma null, reduce the reference's own kernel block now
        (:class:`~mlflow_monitor.drift.mmd_gamma.ReferenceKernel`); every test against the
        same reference array and bandwidth reuses it. Nothing to do for permutations."""
        self._reference = None
        if self.mmd_null == "gamma":
            self._reference = ReferenceKernel.of(x_ref, sigma, self.dtype)

    def test(
        self,
        x_ref: FloatArray,
        x: FloatArray,
        sigma: float,
        n_permutations: int,
        p_val: float,
        rng: np.random.Generator,
    ) -> MMDTestResult:
        """Run :func:`~mlflow_monitor.drift.mmd.mmd_permutation_test`, or
        :func:`~mlflow_monitor.drift.mmd_gamma.mmd_gamma_test` (which draws nothing from
        ``rng`` and ignores ``n_permutations``)."""
        if self.mmd_null == "gamma":
            reference = self._reference
            if reference is None or not reference.matches(x_ref, sigma, self.dtype):
                reference = self._reference = ReferenceKernel.of(x_ref, sigma, self.dtype)
            return mmd_gamma_test(x_ref, x, sigma, p_val, dtype=self.dtype, reference=reference)
        return mmd_permutation_test(x_ref, x, sigma, n_permutations, p_val, rng, dtype=self.dtype)


def backend_named(name: str, dtype: str, mmd_null: str = "permutation") -> MMDBackend:
    """The backend called ``name`` (``"builtin"`` or ``"alibi-detect"``)."""
    if name == "builtin":
        return BuiltinMMD(dtype, mmd_null)
    from mlflow_monitor.drift.alibi_backend import AlibiMMD

    return AlibiMMD()
