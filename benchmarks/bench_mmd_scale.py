"""Target 2: the MMD² permutation test at n = m = 50,000, d = 32, P = 100, beyond memory.

Each measurement runs in a fresh subprocess that reports its own wall time and peak
resident memory (``ru_maxrss``), plus its resident memory just before the test, so the
figures include everything the process holds (interpreter, numpy, the data).

alibi-detect is not run at this size: its ``score()`` builds the full N x N kernel matrix.
Instead a small alibi-detect run (n = m = 2000) measures how many N x N float64 matrices its
``score()`` holds at its peak, and the script extrapolates to N = 100,000.

Run: ``python benchmarks/bench_mmd_scale.py`` (``--help`` for the sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
from bench_common import machine_summary, median, table

GIB = 1024**3


def current_rss() -> int:
    """Resident set size of this process now, in bytes."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    """Highest resident set size of this process so far, in bytes (Linux: KiB units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_builtin(n: int, d: int, permutations: int, dtype: str, repeats: int) -> dict:
    from mlflow_monitor.drift.mmd import median_heuristic_sigma, mmd_permutation_test

    rng = np.random.default_rng(0)
    x_ref = rng.standard_normal((n, d))
    x = rng.standard_normal((n, d)) + 0.02
    start = time.perf_counter()
    sigma = median_heuristic_sigma(x_ref, rng)
    sigma_seconds = time.perf_counter() - start
    before = current_rss()
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = mmd_permutation_test(
            x_ref, x, sigma, permutations, rng=np.random.default_rng(1), dtype=np.dtype(dtype)
        )
        seconds.append(time.perf_counter() - start)
    assert result is not None
    return {
        "seconds": seconds,
        "sigma_seconds": sigma_seconds,
        "rss_before": before,
        "peak": peak_rss(),
        "statistic": result.statistic,
        "p_value": result.p_value,
    }


def child_alibi(n: int, d: int, permutations: int) -> dict:
    warnings.simplefilter("ignore")
    import torch
    from alibi_detect.cd import MMDDrift

    rng = np.random.default_rng(0)
    x_ref = rng.standard_normal((n, d))
    x = rng.standard_normal((n, d)) + 0.02
    detector = MMDDrift(
        x_ref,
        backend="pytorch",
        sigma=np.array([5.6]),
        configure_kernel_from_x_ref=False,
        n_permutations=permutations,
        device="cpu",
    )
    torch.manual_seed(0)
    before = current_rss()
    start = time.perf_counter()
    detector.score(x)
    return {"seconds": [time.perf_counter() - start], "rss_before": before, "peak": peak_rss()}


def run_child(*args: str) -> dict:
    command = [sys.executable, __file__, "--child", *args]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="rows per sample")
    parser.add_argument("--d", type=int, default=32, help="features")
    parser.add_argument("--permutations", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3, help="float32 runs (float64: 1)")
    parser.add_argument("--alibi-n", type=int, default=2000, help="rows per sample, alibi probe")
    parser.add_argument("--child", choices=["float32", "float64", "alibi"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "alibi":
        print(json.dumps(child_alibi(args.n, args.d, args.permutations)))
        return
    if args.child:
        result = child_builtin(args.n, args.d, args.permutations, args.child, args.repeats)
        print(json.dumps(result))
        return

    load_before = os.getloadavg()[0]
    sizes = ["--n", str(args.n), "--d", str(args.d), "--permutations", str(args.permutations)]
    runs = {
        "float32": run_child("float32", *sizes, "--repeats", str(args.repeats)),
        "float64": run_child("float64", *sizes, "--repeats", "1"),
    }
    total = 2 * args.n

    print(
        f"# MMD permutation test at scale: n = m = {args.n}, d = {args.d}, "
        f"P = {args.permutations} (N = {total})\n"
    )
    for line in machine_summary():
        print(f"- {line}")
    print(f"- 1-min load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after\n")

    rows = []
    for dtype, run in runs.items():
        seconds = run["seconds"]
        spread = f" ({min(seconds):.1f}-{max(seconds):.1f}, {len(seconds)} runs)"
        rows.append(
            [
                f"built-in {dtype}",
                f"{median(seconds):.1f} s" + (spread if len(seconds) > 1 else " (1 run)"),
                f"{run['peak'] / GIB:.2f} GiB",
                f"{(run['peak'] - run['rss_before']) / GIB:.3f} GiB",
                f"{run['sigma_seconds']:.2f} s",
                f"{run['statistic']:.6e}",
                f"{run['p_value']:.4f}",
            ]
        )
    header = ["implementation", "time", "peak RSS", "peak - RSS before test", "sigma (median)"]
    header += ["MMD²", "p-value"]
    print(table(header, rows))
    agreement = abs(runs["float32"]["statistic"] / runs["float64"]["statistic"] - 1)
    print(f"\nfloat32 vs float64 statistic: relative difference {agreement:.1e}")
    print(
        f"full N x N kernel matrix: {total**2 * 8 / 1e9:.0f} GB float64, "
        f"{total**2 * 4 / 1e9:.0f} GB float32 (never formed here)\n"
    )

    try:
        import alibi_detect  # noqa: F401
    except ImportError:
        print("alibi-detect not installed: no memory probe")
        return
    probe_n = args.alibi_n
    probe = run_child("alibi", "--n", str(probe_n), "--d", str(args.d), "--permutations", "5")
    probe_total = 2 * probe_n
    matrices = (probe["peak"] - probe["rss_before"]) / (probe_total**2 * 8)
    needed = matrices * total**2 * 8
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    print(
        f"alibi-detect probe at n = m = {probe_n}: score() raised RSS by "
        f"{(probe['peak'] - probe['rss_before']) / 1e6:.0f} MB = {matrices:.1f} N x N float64 "
        f"matrices; at N = {total} that is about {needed / 1e9:.0f} GB "
        f"(this machine: {ram / 1e9:.0f} GB RAM). Not run."
    )


if __name__ == "__main__":
    main()
