"""The built-in exact MMD two-sample permutation test (numpy, no optional dependencies).

The statistic is the unbiased MMD² of Gretton et al. (2012) with a Gaussian kernel
``k(a, b) = exp(-||a - b||² / (2 sigma²))``, exactly as alibi-detect computes it (diagonal of
the kernel matrix zeroed, ``sigma`` from the median heuristic on the reference).

All permutations are evaluated with one matrix product. Write the split of the pooled sample
``z = [x_ref; x]`` as an indicator vector ``u`` (1 for the first group). With ``K`` the kernel
matrix with zero diagonal, ``r = K @ u`` and ``c = K @ 1``::

    sum_xx = u·r,   sum_xy = c·u - u·r,   sum_yy = 1·c - sum_xx - 2·sum_xy

so stacking the observed split and ``P`` random splits as the columns of ``U`` turns the whole
test into ``K @ U``. ``K`` is built block by block (rows of ``z``), so memory stays at one block
plus ``U``, never the full ``N x N`` matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["MMDTestResult", "median_heuristic_sigma", "mmd_permutation_test"]

FloatArray = npt.NDArray[np.float64]

# Largest number of pairwise distances used by the median heuristic before subsampling rows.
_MEDIAN_MAX_ROWS = 4000
# Kernel block size in elements (64 MiB of float64) when building K row block by row block.
_BLOCK_ELEMENTS = 1 << 23


@dataclass(frozen=True)
class MMDTestResult:
    """Outcome of one permutation test.

    Attributes:
        statistic: the observed MMD² between reference and test sample.
        p_value: ``(1 + #{permuted >= observed}) / (1 + n_permutations)``.
        distance_threshold: the MMD² that would be significant at the test's ``p_val``
            (the ``p_val`` upper quantile of the permutation distribution).
        sigma: the Gaussian kernel bandwidth used.
        n_permutations: number of random splits evaluated.
    """

    statistic: float
    p_value: float
    distance_threshold: float
    sigma: float
    n_permutations: int


def _pairwise_sq_distances(a: FloatArray, b: FloatArray) -> FloatArray:
    d2: FloatArray = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    np.maximum(d2, 0.0, out=d2)
    return d2


def median_heuristic_sigma(
    x_ref: FloatArray, rng: np.random.Generator | None = None, max_rows: int = _MEDIAN_MAX_ROWS
) -> float:
    """Bandwidth from the median heuristic, as alibi-detect defines it.

    ``sigma = sqrt(0.5 * median)`` where ``median`` is the lower median of the squared
    distances between distinct pairs of reference rows. Above ``max_rows`` rows a random
    subset of ``max_rows`` rows is used (the median of a large sample barely moves).

    Args:
        x_ref: reference sample, shape ``(n, d)``.
        rng: random generator for the subsample (only used above ``max_rows``).
        max_rows: row count above which the rows are subsampled.

    Returns:
        The bandwidth ``sigma`` (falls back to 1.0 when all rows are identical).
    """
    x = np.asarray(x_ref, dtype=np.float64)
    if x.shape[0] > max_rows:
        rng = rng if rng is not None else np.random.default_rng(0)
        x = x[rng.choice(x.shape[0], size=max_rows, replace=False)]
    n = x.shape[0]
    upper = np.triu_indices(n, k=1)
    pairs = _pairwise_sq_distances(x, x)[upper]
    if pairs.size == 0:
        return 1.0
    k = (pairs.size - 1) // 2
    median = float(np.partition(pairs, k)[k])
    return float(np.sqrt(0.5 * median)) if median > 0 else 1.0


def _split_matrix(n: int, m: int, n_permutations: int, rng: np.random.Generator) -> FloatArray:
    """Indicator columns: the observed split first, then ``n_permutations`` random ones."""
    total = n + m
    splits = np.zeros((total, n_permutations + 1), dtype=np.float64)
    splits[:n, 0] = 1.0
    for column in range(1, n_permutations + 1):
        splits[rng.permutation(total)[:n], column] = 1.0
    return splits


def mmd_permutation_test(
    x_ref: FloatArray,
    x: FloatArray,
    sigma: float,
    n_permutations: int = 100,
    p_val: float = 0.05,
    rng: np.random.Generator | None = None,
) -> MMDTestResult:
    """Run the MMD² permutation test of ``x`` against ``x_ref``.

    Args:
        x_ref: reference sample, shape ``(n, d)``, ``n >= 2``.
        x: test sample, shape ``(m, d)``, ``m >= 2``.
        sigma: Gaussian kernel bandwidth (see :func:`median_heuristic_sigma`).
        n_permutations: number of random splits of the pooled sample.
        p_val: significance level used for ``distance_threshold``.
        rng: random generator for the permutations.

    Returns:
        The observed statistic, its permutation p-value and the distance threshold.
    """
    ref = np.ascontiguousarray(x_ref, dtype=np.float64)
    test = np.ascontiguousarray(x, dtype=np.float64)
    n, m = ref.shape[0], test.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"both samples need at least 2 rows, got {n} and {m}")
    rng = rng if rng is not None else np.random.default_rng()
    pooled = np.concatenate([ref, test])
    total = n + m
    gamma = 1.0 / (2.0 * sigma * sigma)
    splits = _split_matrix(n, m, n_permutations, rng)

    products = np.empty_like(splits)  # K @ U
    row_sums = np.empty(total)  # K @ 1
    block = max(1, min(total, _BLOCK_ELEMENTS // total))
    for start in range(0, total, block):
        stop = min(total, start + block)
        kernel = _pairwise_sq_distances(pooled[start:stop], pooled)
        kernel *= -gamma
        np.exp(kernel, out=kernel)
        rows = np.arange(stop - start)
        kernel[rows, rows + start] = 0.0
        np.matmul(kernel, splits, out=products[start:stop])
        row_sums[start:stop] = kernel.sum(1)

    sum_xx = np.einsum("ij,ij->j", splits, products)
    sum_xy = row_sums @ splits - sum_xx
    sum_yy = row_sums.sum() - sum_xx - 2.0 * sum_xy
    mmd2 = sum_xx / (n * (n - 1)) + sum_yy / (m * (m - 1)) - 2.0 * sum_xy / (n * m)

    observed, permuted = float(mmd2[0]), mmd2[1:]
    p_value = (1.0 + np.count_nonzero(permuted >= observed)) / (1.0 + n_permutations)
    ranked = np.sort(permuted)[::-1]
    threshold = float(ranked[min(int(p_val * n_permutations), n_permutations - 1)])
    return MMDTestResult(
        statistic=observed,
        p_value=float(p_value),
        distance_threshold=threshold,
        sigma=float(sigma),
        n_permutations=n_permutations,
    )
