"""The reference's kernel bandwidth, computed once and checked before it is reused."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlflow_monitor._types import FloatArray
from mlflow_monitor.drift.features import as_feature_matrix
from mlflow_monitor.drift.mmd import median_heuristic_sigma, median_heuristic_subsamples
from mlflow_monitor.exceptions import DataValidationError

__all__ = ["ReferenceBandwidth", "kept_rows"]


def kept_rows(matrix: FloatArray, keep_last: int | None) -> FloatArray:
    """The rows a detector keeps of a reference: the last ``keep_last`` (all when None)."""
    if keep_last is not None and matrix.shape[0] > keep_last:
        matrix = matrix[-keep_last:]
    return np.ascontiguousarray(matrix)


def _digest(kept: FloatArray) -> str:
    """SHA-256 of a float64 matrix's shape and values (0.2 ms for 1000 x 29)."""
    digest = hashlib.sha256(repr(kept.shape).encode())
    digest.update(np.ascontiguousarray(kept, dtype=np.float64).data)
    return digest.hexdigest()


@dataclass(frozen=True)
class ReferenceBandwidth:
    """The median-heuristic kernel bandwidth of a reference, before any scaling.

    :meth:`DriftDetector.fit` computes it from the reference alone (about 15 ms for 1000
    rows); :meth:`of` computes it ahead, when a model is wrapped, so that loading the model
    can pass it to ``fit`` instead. The ``update_ref['sigma']`` multiplier is not part of it:
    the detector applies its own when fitted.

    Attributes:
        sigma: :func:`~mlflow_monitor.drift.mmd.median_heuristic_sigma` of the reference's last
            ``rows`` rows.
        rows: how many rows (the last ones of the reference) it was computed on.
        digest: SHA-256 of those rows, so that it is never applied to other data.

    Raises:
        DataValidationError: ``sigma`` is not a finite number > 0, ``rows`` < 2 or
            ``digest`` is not a SHA-256 hex digest.
    """

    sigma: float
    rows: int
    digest: str

    def __post_init__(self) -> None:
        sigma, rows, digest = self.sigma, self.rows, self.digest
        if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not sigma > 0:
            raise DataValidationError(f"bandwidth sigma must be a number > 0, got {sigma!r}")
        if not math.isfinite(sigma):
            raise DataValidationError(f"bandwidth sigma must be finite, got {sigma!r}")
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 2:
            raise DataValidationError(f"bandwidth rows must be an integer >= 2, got {rows!r}")
        if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
            raise DataValidationError(
                f"bandwidth digest must be a SHA-256 hex digest, got {digest!r}"
            )

    @classmethod
    def of(cls, reference: Any, keep_last: int | None = None) -> ReferenceBandwidth | None:
        """The bandwidth a detector keeping ``keep_last`` rows computes when fitted on
        ``reference`` (a feature matrix, i.e. after any ``preprocess_fn``).

        Args:
            reference: 2-D numeric array or DataFrame of reference features.
            keep_last: the detector's ``update_ref['last']``, None when it keeps every row.

        Returns:
            The bandwidth, or None when the kept rows are too many for the median heuristic
            to use them all (it then draws a random subset with the detector's generator,
            so the value is not a function of the reference alone).

        Raises:
            DataValidationError: the reference is not a numeric 2-D matrix.
        """
        kept = kept_rows(as_feature_matrix(reference, what="reference"), keep_last)
        n_rows = int(kept.shape[0])
        if n_rows < 2 or median_heuristic_subsamples(n_rows):
            return None
        return cls(median_heuristic_sigma(kept), n_rows, _digest(kept))

    def matches(self, kept: FloatArray) -> bool:
        """Whether this is the bandwidth of ``kept``, the rows a detector keeps: the same
        number of rows with the same values. Subsampled references never match: their
        bandwidth would advance the detector's generator.
        """
        n_rows = int(kept.shape[0])
        if self.rows != n_rows or median_heuristic_subsamples(n_rows):
            return False
        return _digest(kept) == self.digest
