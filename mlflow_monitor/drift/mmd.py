"""The built-in exact MMD two-sample permutation test (numpy, no optional dependencies).

The statistic is the unbiased MMD² of Gretton et al. (2012) with a Gaussian kernel
``k(a, b) = exp(-||a - b||² / (2 sigma²))``, exactly as alibi-detect computes it (diagonal of
the kernel matrix zeroed, ``sigma`` from the median heuristic on the reference).

Every split is evaluated from two quadratic forms. Let ``K`` be the kernel matrix of the
pooled sample ``z = [x_ref; x]`` (``N = n + m`` rows) with zero diagonal, and encode a split
into groups of sizes ``n`` and ``m`` as the vector ``v`` with ``v_i = m`` in the first group
and ``-n`` in the second, so ``1·v = 0``. With ``q = v·K·v``, ``s = 1·K·v`` and
``T = 1·K·1``, the sums of ``K`` within and across the groups are::

    S_xx = (q + 2 n s + n² T) / N²,   S_yy = (q - 2 m s + m² T) / N²
    MMD² = q / (n m)² + S_xx / (n² (n-1)) + S_yy / (m² (m-1))

(``q / (n m)²`` is the biased statistic; the other two terms make it unbiased). Stacking the
observed split, ``P`` random splits and a column of ones as the columns of ``V``, every ``q``
and ``s`` comes out of the one product ``K @ V``.

Why ``v`` and not the 0/1 indicator of a group: ``K`` is dominated by its mean, so
``K @ indicator`` sums thousands of similar positive numbers and MMD² is a tiny difference of
such sums. Because ``1·v = 0`` the mean cancels inside the partial sums of ``K @ v`` (the
same effect as double-centring ``K``), provided the groups are mixed within every block of
rows, so the rows are put in a fixed pseudo-random order first. float32 products then agree
with float64 to about 1e-10 in MMD² at n = m = 5000, some 1e-6 of the spread of the
permutation statistics (naive float32 sums are off by 1e-4 relative and more).

``K`` is never stored. Rows are cut into blocks of ``_BLOCK_ROWS``; a kernel tile is one small
product for the exponent and an in-place ``exp`` on a buffer that stays in cache. Only the
tiles on and above the block diagonal are computed: with ``M`` the block upper-triangular
matrix that keeps the diagonal tiles of ``K`` and doubles the tiles above, ``v·M·v = v·K·v``
and ``1·K·v = (1·M·v + v·M·1) / 2``, so each tile is exponentiated and multiplied once. Block
rows are shared among threads (numpy releases the GIL; ``exp`` alone would be single-threaded)
while the BLAS runs single-threaded, so the threads do not compete for the cores.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "MMDTestResult",
    "gamma_tail_p_value",
    "median_heuristic_sigma",
    "median_heuristic_subsamples",
    "mmd_permutation_test",
]

FloatArray = npt.NDArray[np.float64]
Array = npt.NDArray[Any]

# Rows above which the median heuristic uses random pairs of rows instead of every pair.
_MEDIAN_MAX_ROWS = 4000
# Random pairs drawn above _MEDIAN_MAX_ROWS: the sample median of 2**16 squared distances has
# a relative standard error of 1 / (2 f(med) med sqrt(2**16)), f their density: 1.3e-3 for 32
# independent normal features, 4e-3 for 4 (half of that in sigma).
_MEDIAN_PAIRS = 2**16
# Pairs per chunk of the random-pair distances (a chunk of 32 features is 16 MiB).
_PAIR_CHUNK = 2**16
# Rows per block. A 512 x 512 float32 tile (1 MiB) stays in a core's L2 cache while exp and
# the product reuse it; 256 to 768 measured the same, 1024 a third slower (benchmarks/).
_BLOCK_ROWS = 512
# Seed of the fixed row order that mixes the two groups within every block (see above).
_ROW_ORDER_SEED = 0x5EED


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
        tail_p_value: ``p_value`` where it is informative; when the observed statistic
            exceeds every permuted one (``p_value`` is then its floor ``1 / (1 + P)``), the
            upper tail of a gamma distribution with the permuted statistics' mean,
            variance and skewness, so that a large shift scores beyond the floor. None
            from a backend that does not estimate it.
    """

    statistic: float
    p_value: float
    distance_threshold: float
    sigma: float
    n_permutations: int
    tail_p_value: float | None = None


def median_heuristic_subsamples(n_rows: int, max_rows: int = _MEDIAN_MAX_ROWS) -> bool:
    """Whether :func:`median_heuristic_sigma` of ``n_rows`` rows draws random pairs.

    Up to ``max_rows`` rows the bandwidth is a function of the rows alone and the random
    generator is left untouched; above, it depends on (and advances) the generator.
    """
    return n_rows > max_rows


def median_heuristic_sigma(
    x_ref: FloatArray, rng: np.random.Generator | None = None, max_rows: int = _MEDIAN_MAX_ROWS
) -> float:
    """Bandwidth from the median heuristic, as alibi-detect defines it.

    ``sigma = sqrt(0.5 * median)`` where ``median`` is the lower median of the squared
    distances between distinct pairs of reference rows. Above ``max_rows`` rows it is the
    median of ``2**16`` random pairs of distinct rows instead, a few milliseconds at any
    size; its relative standard error in ``sigma`` is ``1 / (4 f(med) med sqrt(2**16))`` for
    squared distances of density ``f`` (6e-4 for 32 independent normal features, 2e-3 for 4).

    Args:
        x_ref: reference sample, shape ``(n, d)``.
        rng: random generator for the pairs (only used above ``max_rows``).
        max_rows: row count above which pairs are sampled.

    Returns:
        The bandwidth ``sigma`` (falls back to 1.0 when all rows are identical).
    """
    x = np.asarray(x_ref, dtype=np.float64)
    if median_heuristic_subsamples(x.shape[0], max_rows):
        rng = rng if rng is not None else np.random.default_rng(0)
        median = _random_pair_median(x, rng, _MEDIAN_PAIRS)
        return float(np.sqrt(0.5 * median)) if median > 0 else 1.0
    n = x.shape[0]
    if n < 2:
        return 1.0
    # The upper triangle, block of rows by block of rows, in one reused buffer: no n x n
    # matrix, and no fresh pages to fault in for every block.
    x = x - x.mean(0)
    norms = (x * x).sum(1)
    pairs = np.empty(n * (n - 1) // 2)
    buffer = np.empty(min(_BLOCK_ROWS, n - 1) * n)
    filled = 0
    columns = np.arange(n)
    for start in range(0, n - 1, _BLOCK_ROWS):
        stop = min(n - 1, start + _BLOCK_ROWS)
        d2 = buffer[: (stop - start) * (n - start)].reshape(stop - start, n - start)
        np.matmul(x[start:stop], x[start:].T, out=d2)
        d2 *= -2.0
        d2 += norms[start:stop, None]
        d2 += norms[None, start:]
        values = d2[columns[None, start:] > columns[start:stop, None]]  # row by row, j > i
        pairs[filled : filled + values.size] = values
        filled += values.size
    np.maximum(pairs, 0.0, out=pairs)
    k = (pairs.size - 1) // 2
    median = float(np.partition(pairs, k)[k])
    return float(np.sqrt(0.5 * median)) if median > 0 else 1.0


def _random_pair_median(x: FloatArray, rng: np.random.Generator, n_pairs: int) -> float:
    """Lower median of the squared distances of ``n_pairs`` random pairs of distinct rows."""
    n = x.shape[0]
    first = rng.integers(0, n, size=n_pairs)
    second = rng.integers(0, n - 1, size=n_pairs)
    second += second >= first  # uniform over the rows other than ``first``
    distances = np.empty(n_pairs)
    for start in range(0, n_pairs, _PAIR_CHUNK):
        stop = min(n_pairs, start + _PAIR_CHUNK)
        gap = x[first[start:stop]] - x[second[start:stop]]
        np.einsum("ij,ij->i", gap, gap, out=distances[start:stop])
    k = (n_pairs - 1) // 2
    return float(np.partition(distances, k)[k])


def _split_columns(
    n: int, m: int, n_permutations: int, rng: np.random.Generator, position: Array, dtype: Any
) -> Array:
    """The matrix ``V``: observed split, ``n_permutations`` random splits, a column of ones.

    Split ``k`` puts the pooled rows ``rng.permutation(n + m)[:n]`` in the first group; pooled
    row ``i`` sits in row ``position[i]`` of ``V``. The entries ``m`` and ``-n`` are integers,
    exact in float32 up to 2**24 rows.
    """
    total = n + m
    columns = np.full((total, n_permutations + 2), -float(n), dtype=dtype)
    columns[position[:n], 0] = m
    for column in range(1, n_permutations + 1):
        columns[position[rng.permutation(total)[:n]], column] = m
    columns[:, -1] = 1.0
    return columns


def _exponent_factors(pooled: FloatArray, sigma: float, dtype: Any) -> tuple[Array, Array]:
    """``A`` and ``B^T`` with ``exp(A @ B^T)_ij = exp(-||z_i - z_j||² / (2 sigma²))``.

    The rows are centred and scaled in float64 first, so the float32 cancellation in
    ``|a|² + |b|² - 2 a·b`` is relative to the spread of the data, not to its offset.
    """
    z = (pooled - pooled.mean(0)) * (np.sqrt(0.5) / sigma)
    norms = (z * z).sum(1, keepdims=True)
    ones = np.ones_like(norms)
    left = np.ascontiguousarray(np.hstack([2.0 * z, -norms, -ones]), dtype=dtype)
    right_t = np.ascontiguousarray(np.hstack([z, ones, norms]).T, dtype=dtype)
    return left, right_t


class _BlockRows:
    """Computes one block row of ``M @ V`` at a time (``M`` as in the module docstring).

    Each thread owns one instance, so the tile and row buffers are allocated once per call
    and reused for every tile.
    """

    def __init__(self, left: Array, right_t: Array, columns: Array, block: int) -> None:
        self.left, self.right_t, self.columns, self.block = left, right_t, columns, block
        self.tile = np.empty(block * block, dtype=columns.dtype)
        self.part = np.empty((block, columns.shape[1]), dtype=columns.dtype)
        self.above = np.empty((block, columns.shape[1]), dtype=columns.dtype)

    def _kernel_tile(self, rows: slice, cols: slice) -> Array:
        shape = (rows.stop - rows.start, cols.stop - cols.start)
        tile = self.tile[: shape[0] * shape[1]].reshape(shape)
        np.matmul(self.left[rows], self.right_t[:, cols], out=tile)
        np.exp(tile, out=tile)
        return tile

    def reduce(self, index: int, quadratic: FloatArray, linear: FloatArray) -> None:
        """Store block row ``index``'s share of ``v·M·v`` and ``1·M·v + v·M·1`` per column."""
        total, block = self.columns.shape[0], self.block
        rows = slice(index * block, min(total, (index + 1) * block))
        part, above = self.part[: rows.stop - rows.start], self.above[: rows.stop - rows.start]
        above.fill(0.0)
        for start in range(rows.stop, total, block):
            cols = slice(start, min(total, start + block))
            np.matmul(self._kernel_tile(rows, cols), self.columns[cols], out=part)
            above += part
        tile = self._kernel_tile(rows, rows)
        np.fill_diagonal(tile, 0.0)
        np.matmul(tile, self.columns[rows], out=part)
        # Reduce in float64: v·K·v is a small difference of large sums.
        product = 2.0 * above.astype(np.float64) + part
        v = self.columns[rows].astype(np.float64)
        quadratic[index] = np.einsum("ij,ij->j", v, product)
        linear[index] = product.sum(0) + product[:, -1] @ v


class _SingleThreadedBlas:
    """Holds the BLAS at one thread while any caller's threads share the cores.

    threadpoolctl changes a process-wide setting and restores what it saw on entry, so
    overlapping calls from several threads (several monitors) would restore each other's
    limit; a count of active callers makes the first one set the limit and the last one
    restore it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._limiter: Any = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                try:
                    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
                except ImportError:  # pragma: no cover - scikit-learn depends on it
                    self._limiter = None
                else:
                    self._limiter = threadpool_limits(limits=1, user_api="blas")
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._limiter is not None:
                    self._limiter.restore_original_limits()
                    self._limiter = None


_single_threaded_blas = _SingleThreadedBlas()


def _quadratic_forms(
    left: Array, right_t: Array, columns: Array, n_threads: int, block: int
) -> tuple[FloatArray, FloatArray]:
    """``v·K·v`` and ``1·K·v`` for every column ``v``, ``K_ij = exp(A B^T)_ij``, ``K_ii = 0``.

    Block rows go to the threads through a queue, longest first; each row's result has its
    own slot and the slots are summed in row order, so the outcome does not depend on thread
    timing.
    """
    total, width = columns.shape
    n_rows = -(-total // block)
    quadratic = np.empty((n_rows, width))
    linear = np.empty((n_rows, width))
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(n_rows):
        pending.put(index)

    def work() -> None:
        rows = _BlockRows(left, right_t, columns, block)
        while True:
            try:
                index = pending.get_nowait()
            except queue.Empty:
                return
            rows.reduce(index, quadratic, linear)

    n_threads = min(n_threads, n_rows)
    if n_threads <= 1:
        work()  # the BLAS keeps its own threads
    else:
        with _single_threaded_blas(), ThreadPoolExecutor(n_threads) as pool:
            for job in [pool.submit(work) for _ in range(n_threads)]:
                job.result()
    forms: FloatArray = quadratic.sum(0)
    halves: FloatArray = linear.sum(0) / 2.0
    return forms, halves


def _split_statistics(quadratic: FloatArray, linear: FloatArray, n: int, m: int) -> FloatArray:
    """Unbiased MMD² of every split from ``v·K·v`` and ``1·K·v`` (last entry: ``v = 1``)."""
    total, kernel_sum = n + m, quadratic[-1]
    q, s = quadratic[:-1], linear[:-1]
    s_xx = (q + 2.0 * n * s + n * n * kernel_sum) / total**2
    s_yy = (q - 2.0 * m * s + m * m * kernel_sum) / total**2
    mmd2: FloatArray = (
        q / (float(n) * m) ** 2 + s_xx / (n * n * (n - 1.0)) + s_yy / (m * m * (m - 1.0))
    )
    return mmd2


def gamma_tail_p_value(observed: float, permuted: FloatArray) -> float:
    """Upper tail at ``observed`` of a gamma distribution with the mean, variance and
    skewness of ``permuted`` (skewness held in [0.2, 4]: the MMD² null is right-skewed, and
    100 permutations estimate skewness only roughly)."""
    from scipy.special import gammaincc

    mean, std = float(np.mean(permuted)), float(np.std(permuted))
    if not std > 0:
        return 0.0 if observed > mean else 1.0
    skew = float(np.mean(((permuted - mean) / std) ** 3))
    skew = min(max(skew, 0.2), 4.0)
    shape = 4.0 / skew**2
    scale = std * skew / 2.0
    start = mean - shape * scale
    return float(gammaincc(shape, max(observed - start, 0.0) / scale))


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def mmd_permutation_test(
    x_ref: FloatArray,
    x: FloatArray,
    sigma: float,
    n_permutations: int = 100,
    p_val: float = 0.05,
    rng: np.random.Generator | None = None,
    *,
    dtype: npt.DTypeLike = np.float64,
    n_threads: int | None = None,
) -> MMDTestResult:
    """Run the MMD² permutation test of ``x`` against ``x_ref``.

    Memory stays at the inputs plus an ``(n + m) x (n_permutations + 2)`` matrix and one
    small tile per thread; the ``(n + m)²`` kernel matrix is never formed.

    Args:
        x_ref: reference sample, shape ``(n, d)``, ``n >= 2``.
        x: test sample, shape ``(m, d)``, ``m >= 2``.
        sigma: Gaussian kernel bandwidth (see :func:`median_heuristic_sigma`).
        n_permutations: number of random splits of the pooled sample.
        p_val: significance level used for ``distance_threshold``.
        rng: random generator for the permutations.
        dtype: precision of the kernel products, ``np.float64`` or ``np.float32`` (about
            twice as fast; MMD² within about 1e-10 of float64, see the module docstring).
        n_threads: threads sharing the kernel blocks (default: the CPUs this process may
            use). Above one, the BLAS is held at one thread for the duration of the call.

    Returns:
        The observed statistic, its permutation p-value and the distance threshold.

    Raises:
        ValueError: a sample has fewer than 2 rows, or ``dtype`` is not float32/float64.
    """
    ref = np.asarray(x_ref, dtype=np.float64)
    test = np.asarray(x, dtype=np.float64)
    n, m = ref.shape[0], test.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"both samples need at least 2 rows, got {n} and {m}")
    compute = np.dtype(dtype)
    if compute not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {compute}")
    rng = rng if rng is not None else np.random.default_rng()
    threads = n_threads if n_threads is not None else _available_cpus()

    total = n + m
    order = np.random.default_rng(_ROW_ORDER_SEED).permutation(total)
    position = np.empty(total, dtype=np.intp)
    position[order] = np.arange(total)
    columns = _split_columns(n, m, n_permutations, rng, position, compute)
    left, right_t = _exponent_factors(np.concatenate([ref, test])[order], sigma, compute)
    quadratic, linear = _quadratic_forms(left, right_t, columns, threads, _BLOCK_ROWS)
    mmd2 = _split_statistics(quadratic, linear, n, m)

    observed, permuted = float(mmd2[0]), mmd2[1:]
    exceeding = np.count_nonzero(permuted >= observed)
    p_value = (1.0 + exceeding) / (1.0 + n_permutations)
    tail = p_value if exceeding else min(p_value, gamma_tail_p_value(observed, permuted))
    ranked = np.sort(permuted)[::-1]
    threshold = float(ranked[min(int(p_val * n_permutations), n_permutations - 1)])
    return MMDTestResult(
        statistic=observed,
        p_value=float(p_value),
        distance_threshold=threshold,
        sigma=float(sigma),
        n_permutations=n_permutations,
        tail_p_value=float(tail),
    )
