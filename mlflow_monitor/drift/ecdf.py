"""Empirical distribution functions of a reference and a batch, column by column: what the
per-feature KS statistic and the Wasserstein effect size are both read from.

Columns are sorted as rows of the transposed matrix (contiguous, so each sort and search runs
over adjacent memory); the reference's sorted columns depend on the reference alone, and a
detector sorts them once when it is fitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlflow_monitor._types import FloatArray

__all__ = ["ColumnGaps", "sorted_columns"]


def sorted_columns(matrix: FloatArray) -> FloatArray:
    """The columns of a ``(rows, d)`` matrix, each sorted, as the rows of a ``(d, rows)`` one."""
    columns = np.array(np.asarray(matrix, dtype=np.float64).T, order="C")
    columns.sort(axis=1)
    return columns


@dataclass(frozen=True)
class ColumnGaps:
    """``F_ref - F_batch`` of every column at every pooled value, in sorted order.

    Attributes:
        gaps: ``(d, n + m)``; entry ``i`` of row ``j`` is the difference of column ``j``'s
            two empirical CDFs at its ``i``-th smallest pooled value, where that is the last
            of a run of equal values (elsewhere a partial count that nothing reads).
        widths: ``(d, n + m - 1)``; the distance from the ``i``-th to the next pooled value
            (0 inside a run of equal values).
    """

    gaps: FloatArray
    widths: FloatArray

    @classmethod
    def of(
        cls, reference: FloatArray, batch: FloatArray, sorted_reference: FloatArray | None = None
    ) -> ColumnGaps:
        """The gaps of ``batch`` against ``reference`` (both ``(rows, d)``, same ``d``).

        The CDFs are counts of values ``<=`` a pooled value divided by the sample sizes,
        as ``scipy.stats.ks_2samp`` computes them, so the KS statistic is scipy's (to the
        last bit or two: where several values reach the maximum, their rounding differs).

        Args:
            reference: reference rows.
            batch: tested rows.
            sorted_reference: :func:`sorted_columns` of ``reference``, when known already.
        """
        ref = sorted_columns(reference) if sorted_reference is None else sorted_reference
        n, m = ref.shape[1], batch.shape[0]
        pooled = np.concatenate([ref, sorted_columns(batch)], axis=1)
        order = np.argsort(pooled, axis=1, kind="stable")  # two sorted runs: a merge
        values = np.take_along_axis(pooled, order, axis=1)
        # Counts by position; within a run of equal values only the last position has the
        # counts of values <= it, and only there is the width to the next value > 0.
        below_ref = np.cumsum(order < n, axis=1)
        below_test = np.arange(1, n + m + 1) - below_ref
        return cls(below_ref / n - below_test / m, np.diff(values, axis=1))

    def ks_statistics(self) -> FloatArray:
        """The two-sided KS statistic ``max |F_ref - F_batch|`` of each column (at the last
        value both CDFs are 1, so only positions followed by a larger value count)."""
        if self.widths.shape[1] == 0:
            return np.zeros(self.gaps.shape[0])
        inside = np.where(self.widths > 0, np.abs(self.gaps[:, :-1]), 0.0)
        statistics: FloatArray = inside.max(axis=1)
        return statistics

    def wasserstein(self) -> FloatArray:
        """The Wasserstein-1 distance ``∫ |F_ref - F_batch| dt`` of each column."""
        distances: FloatArray = np.sum(np.abs(self.gaps[:, :-1]) * self.widths, axis=1)
        return distances
