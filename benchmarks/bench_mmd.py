"""Target 1: the exact MMD² permutation test at n = m = 5000, d = 32, P = 100.

Times the built-in test (float32 and float64; median of ``--repeats`` runs after a warm-up)
against alibi-detect's ``MMDDrift`` (pytorch backend, float64 data, ``score()`` only, one
run of about 45 s) on the same data and bandwidth, and against a lower bound measured in the
same run: the flops of the kernel and permutation products, ``2 N² d + 2 N² (P + 1)`` with
``N = n + m``, divided by the best float32 matrix-product rate of numpy and torch.

Run: ``python benchmarks/bench_mmd.py`` (``--help`` for the sizes).
"""

from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
from bench_common import (
    machine_summary,
    median,
    numpy_gemm_rate,
    table,
    timed,
    torch_gemm_rate,
)

from mlflow_monitor.drift.mmd import _BLOCK_ROWS, median_heuristic_sigma, mmd_permutation_test


def alibi_score(x_ref: np.ndarray, x: np.ndarray, sigma: float, permutations: int) -> tuple:
    """Seconds of one ``MMDDrift.score`` and its ``(p_value, statistic)``; None if missing."""
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        import torch
        from alibi_detect.cd import MMDDrift
    except ImportError:
        return None
    detector = MMDDrift(
        x_ref,
        backend="pytorch",
        sigma=np.array([sigma]),
        configure_kernel_from_x_ref=False,
        n_permutations=permutations,
        device="cpu",
    )  # builds the reference kernel block here, outside the timed call
    torch.manual_seed(0)
    seconds, (p_value, statistic, _) = timed(lambda: detector.score(x), 1, warm_up=False)
    return seconds, p_value, statistic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="rows per sample")
    parser.add_argument("--d", type=int, default=32, help="features")
    parser.add_argument("--permutations", type=int, default=100)
    parser.add_argument("--shift", type=float, default=0.05, help="mean shift of the test sample")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-alibi", action="store_true", help="do not run alibi-detect")
    args = parser.parse_args()

    n, d, permutations = args.n, args.d, args.permutations
    load_before = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    x_ref = rng.standard_normal((n, d))
    x = rng.standard_normal((n, d)) + args.shift
    sigma = median_heuristic_sigma(x_ref, rng)

    # numpy first: torch's OpenMP threads keep spinning for a while after torch work.
    rate32 = numpy_gemm_rate(np.float32)
    rate64 = numpy_gemm_rate(np.float64, size=2048, repeats=3)
    ours = {}
    for dtype in (np.float32, np.float64):
        ours[dtype] = timed(
            lambda dtype=dtype: mmd_permutation_test(
                x_ref, x, sigma, permutations, rng=np.random.default_rng(1), dtype=dtype
            ),
            args.repeats,
        )
    torch_rate = torch_gemm_rate()
    alibi = None if args.skip_alibi else alibi_score(x_ref, x, sigma, permutations)

    total = 2 * n
    nominal_flops = 2.0 * total**2 * d + 2.0 * total**2 * (permutations + 1)
    best_rate = max(rate32, torch_rate or 0.0)
    bound = nominal_flops / best_rate
    # What this implementation multiplies: tiles on and above the block diagonal, inner
    # dimension d + 2 for the exponent and P + 2 columns for the splits.
    tiles = total * (total + _BLOCK_ROWS) / 2.0
    own_bound = tiles * 2.0 * ((d + 2) + (permutations + 2)) / best_rate

    print(f"# MMD permutation test: n = m = {n}, d = {d}, P = {permutations}\n")
    for line in machine_summary():
        print(f"- {line}")
    torch_text = f"{torch_rate / 1e9:.0f}" if torch_rate else "n/a"
    print(
        f"- float32 GEMM (4096², best of 5): numpy {rate32 / 1e9:.0f} GFLOP/s, "
        f"torch {torch_text} GFLOP/s; numpy float64 (2048²) {rate64 / 1e9:.0f} GFLOP/s"
    )
    print(
        f"- lower bound: {nominal_flops / 1e9:.1f} GFLOP / {best_rate / 1e9:.0f} GFLOP/s = "
        f"{bound * 1e3:.0f} ms (this implementation's own flops: {own_bound * 1e3:.0f} ms)"
    )
    print(f"- 1-min load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"- sigma = {sigma:.4f} (median heuristic), test sample shifted by {args.shift}\n")

    rows = []
    alibi_seconds = alibi[0][0] if alibi else None
    for dtype, label in ((np.float32, "built-in float32"), (np.float64, "built-in float64")):
        seconds, result = ours[dtype]
        mid = median(seconds)
        speedup = f"{alibi_seconds / mid:.0f}x faster" if alibi_seconds else "n/a"
        agreement = f"{abs(result.statistic / alibi[2] - 1):.1e}" if alibi else "n/a"
        rows.append(
            [
                label,
                f"{mid:.3f} s ({min(seconds):.3f}-{max(seconds):.3f}, {len(seconds)} runs)",
                speedup,
                f"{mid / bound:.2f}x",
                f"{result.statistic:.6e}",
                agreement,
                f"{result.p_value:.4f}",
            ]
        )
    if alibi:
        rows.append(
            [
                "alibi-detect MMDDrift, pytorch, float64",
                f"{alibi_seconds:.1f} s (1 run)",
                "1x",
                f"{alibi_seconds / bound:.0f}x",
                f"{alibi[2]:.6e}",
                "reference",
                f"{alibi[1]:.4f}",
            ]
        )
    rows.append(["lower bound (flops / best GEMM rate)", f"{bound:.3f} s", "", "1x", "", "", ""])
    header = ["implementation", "time (median)", "vs alibi-detect", "vs lower bound"]
    header += ["MMD²", "rel. diff to alibi", "p-value"]
    print(table(header, rows))


if __name__ == "__main__":
    main()
