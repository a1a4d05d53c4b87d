"""Issue #12 item 6: what a drift check costs, ours against alibi-detect's ``MMDDrift``.

At n = m = 5000 rows, d = 32 features (``--n``, ``--d``), in the same run:

1. Cold (a fresh process, as ``mlflow-monitor check`` from cron pays it): the wall time of a
   subprocess that imports, loads the two samples from ``.npy`` files, fits and detects;
   ours (``--cold-runs`` each, median) and alibi-detect (one run: ``MMDDrift(x_ref,
   backend="pytorch")`` with its own median-heuristic bandwidth, then ``predict``).
2. Warm (imports done, as a serving process pays it): ``fit``, ``detect`` and ``fit`` +
   ``detect`` in one process, the configurations taking turns (``--warm-runs`` rounds,
   medians). alibi-detect's warm figure is the fit + predict time measured inside its cold
   process, after its imports (at 1-20 minutes a run, a first-call cost does not show).
3. Power and false positives at the default ``p_val`` 0.05 on seeded windows of
   ``--power-n`` rows (alibi-detect costs seconds a window there): the share of windows
   flagged with no shift, with every feature shifted, and with one feature shifted.

Ours is measured in two configurations: the defaults (exact permutation test, 100
permutations, float64) and ``mmd_null="gamma", dtype="float32"`` (no permutations). Ratios
are alibi-detect's time over ours, from this run. The 1-minute load average is printed before
and after each part: the machine is shared.

Run: ``python benchmarks/bench_drift_speed.py`` (``--skip-alibi`` for ours only).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from bench_common import interleaved, load_average, machine_summary, median, table

from mlflow_monitor.drift.detector import DriftDetector

CONFIGS = {
    "ours, defaults (permutation, float64)": {},
    "ours, gamma null, float32": {"mmd_null": "gamma", "dtype": "float32"},
}

OURS_COLD = """
import json, sys, time
start = time.perf_counter()
import numpy as np
from mlflow_monitor.drift.detector import DriftDetector
imported = time.perf_counter()
x_ref, x = np.load(sys.argv[1]), np.load(sys.argv[2])
options = json.loads(sys.argv[3])
loaded = time.perf_counter()
detector = DriftDetector(**options).fit(x_ref)
fitted = time.perf_counter()
result = detector.detect(x)
done = time.perf_counter()
print(json.dumps({"import": imported - start, "fit": fitted - loaded, "detect": done - fitted,
                  "p_value": result.p_value, "distance": result.distance}))
"""

ALIBI_COLD = """
import json, sys, time, warnings
start = time.perf_counter()
warnings.filterwarnings("ignore")
import numpy as np
import torch
from alibi_detect.cd import MMDDrift
imported = time.perf_counter()
x_ref, x = np.load(sys.argv[1]), np.load(sys.argv[2])
torch.manual_seed(0)
loaded = time.perf_counter()
detector = MMDDrift(x_ref, backend="pytorch", p_val=0.05, n_permutations=100, device="cpu")
fitted = time.perf_counter()
result = detector.predict(x)
done = time.perf_counter()
print(json.dumps({"import": imported - start, "fit": fitted - loaded, "detect": done - fitted,
                  "p_value": float(result["data"]["p_val"]),
                  "distance": float(result["data"]["distance"])}))
"""


def run_cold(code: str, paths: list[str], *extra: str) -> tuple[float, dict]:
    """Wall seconds of a fresh interpreter running ``code``, and what it printed."""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, *paths, *extra],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    return seconds, json.loads(out.stdout.strip().splitlines()[-1])


def samples(n: int, d: int, seed: int, shift: np.ndarray | float = 0.0) -> tuple:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, d)) + shift


def warm_times(x_ref: np.ndarray, x: np.ndarray, rounds: int) -> dict[str, dict[str, float]]:
    """Median fit, detect and fit + detect seconds of each configuration, taking turns."""
    fitted = {name: DriftDetector(**opts).fit(x_ref) for name, opts in CONFIGS.items()}
    calls = {}
    for name, opts in CONFIGS.items():
        calls[f"{name}|fit"] = lambda opts=opts: DriftDetector(**opts).fit(x_ref)
        calls[f"{name}|detect"] = lambda name=name: fitted[name].detect(x)
        calls[f"{name}|both"] = lambda opts=opts: DriftDetector(**opts).fit(x_ref).detect(x)
    seconds = interleaved(calls, rounds)
    out: dict[str, dict[str, float]] = {name: {} for name in CONFIGS}
    for key, values in seconds.items():
        name, part = key.split("|")
        out[name][part] = median(values)
    return out


def alibi_flags(x_ref: np.ndarray, x: np.ndarray, seed: int) -> bool:
    import torch
    from alibi_detect.cd import MMDDrift

    detector = MMDDrift(x_ref, backend="pytorch", p_val=0.05, n_permutations=100, device="cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return bool(detector.predict(x)["data"]["is_drift"])


def power(n: int, d: int, windows: int, skip_alibi: bool) -> list[list[str]]:
    """Share of flagged windows per scenario: ours (both configurations, whole verdict and
    MMD alone) and alibi-detect."""
    one = np.zeros(d)
    one[0] = 0.3
    scenarios = {
        "no shift (false positives)": 0.0,
        "every feature +0.05 SD": 0.05,
        "every feature +0.08 SD": 0.08,
        "feature 0 +0.3 SD": one,
    }
    rows = []
    for label, shift in scenarios.items():
        counts = {name: [0, 0] for name in CONFIGS}
        theirs = 0
        for window in range(windows):
            seed = 1000 * (1 + list(scenarios).index(label)) + window
            x_ref, x = samples(n, d, seed, shift)
            for name, opts in CONFIGS.items():
                result = DriftDetector(random_seed=seed, **opts).fit(x_ref).detect(x)
                counts[name][0] += result.drift_detected
                counts[name][1] += (result.mmd_p_value or 1.0) < 0.05
            if not skip_alibi:
                theirs += alibi_flags(x_ref, x, seed)
        row = [label]
        for name in CONFIGS:
            verdict, mmd_only = counts[name]
            row.append(f"{verdict / windows:.2f} (MMD alone {mmd_only / windows:.2f})")
        row.append("n/a" if skip_alibi else f"{theirs / windows:.2f}")
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="rows per sample")
    parser.add_argument("--d", type=int, default=32, help="features")
    parser.add_argument("--shift", type=float, default=0.02, help="mean shift of the test rows")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--warm-runs", type=int, default=5)
    parser.add_argument("--power-n", type=int, default=300, help="rows per power window")
    parser.add_argument("--power-windows", type=int, default=30, help="windows per scenario")
    parser.add_argument("--skip-alibi", action="store_true", help="do not run alibi-detect")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the small-reference advice, once per detector
    warnings.filterwarnings("ignore")

    loads = {"start": load_average()}
    x_ref, x = samples(args.n, args.d, 0, args.shift)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(Path(tmp) / "x_ref.npy"), str(Path(tmp) / "x.npy")]
        np.save(paths[0], x_ref)
        np.save(paths[1], x)
        cold: dict[str, list[float]] = {name: [] for name in CONFIGS}
        cold_parts: dict[str, dict] = {}
        for _ in range(args.cold_runs):
            for name, opts in CONFIGS.items():
                seconds, parts = run_cold(OURS_COLD, paths, json.dumps(opts))
                cold[name].append(seconds)
                cold_parts[name] = parts
        loads["ours cold"] = load_average()
        warm = warm_times(x_ref, x, args.warm_runs)
        loads["ours warm"] = load_average()
        alibi = None
        if not args.skip_alibi:
            alibi = run_cold(ALIBI_COLD, paths)
            loads["alibi-detect"] = load_average()
            # ours again, so that both sides of alibi-detect's long run are sampled
            for name, opts in CONFIGS.items():
                cold[name].append(run_cold(OURS_COLD, paths, json.dumps(opts))[0])
            again = warm_times(x_ref, x, args.warm_runs)
            for name in CONFIGS:
                for part, value in again[name].items():
                    warm[name][part] = median([warm[name][part], value])
            loads["ours again"] = load_average()
    power_rows = power(args.power_n, args.d, args.power_windows, args.skip_alibi)
    loads["power"] = load_average()

    print(f"# Drift check cost: n = m = {args.n}, d = {args.d}, mean shift {args.shift}\n")
    for line in machine_summary():
        print(f"- {line}")
    print("- 1-min load average: " + ", ".join(f"{k} {v:.2f}" for k, v in loads.items()))
    if alibi:
        seconds, parts = alibi
        print(
            f"- alibi-detect, one fresh process: {seconds:.1f} s (import {parts['import']:.1f} s,"
            f" fit {parts['fit']:.1f} s, predict {parts['detect']:.1f} s);"
            f" p = {parts['p_value']:.3f}, MMD² {parts['distance']:.4e}"
        )
    print()
    rows = []
    for name in CONFIGS:
        c, w = median(cold[name]), warm[name]
        parts = cold_parts[name]
        row = [
            name,
            f"{c:.3f} s ({len(cold[name])} runs; import {parts['import']:.2f} s)",
            f"{w['fit'] * 1e3:.0f} ms",
            f"{w['detect'] * 1e3:.0f} ms",
            f"{w['both'] * 1e3:.0f} ms",
        ]
        if alibi:
            a_seconds, a_parts = alibi
            a_warm = a_parts["fit"] + a_parts["detect"]
            row += [
                f"{a_seconds / c:.0f}x",
                f"{a_warm / w['both']:.0f}x",
                f"{a_parts['detect'] / w['detect']:.0f}x",
            ]
        row.append(f"{parts['p_value']:.3g}")
        rows.append(row)
    if alibi:
        a_seconds, a_parts = alibi
        rows.append(
            [
                "alibi-detect MMDDrift (pytorch)",
                f"{a_seconds:.1f} s (1 run; import {a_parts['import']:.1f} s)",
                f"{a_parts['fit'] * 1e3:.0f} ms",
                f"{a_parts['detect'] * 1e3:.0f} ms",
                f"{(a_parts['fit'] + a_parts['detect']) * 1e3:.0f} ms",
                "1x",
                "1x",
                "1x",
                f"{a_parts['p_value']:.3g}",
            ]
        )
    header = ["detector", "cold (fresh process)", "warm fit", "warm detect", "warm fit+detect"]
    if alibi:
        header += ["cold ratio", "warm fit+detect ratio", "detect ratio"]
    header.append("p-value")
    print(table(header, rows))
    print(
        f"\n## Share of windows flagged at p_val 0.05 (n = m = {args.power_n}, d = {args.d}, "
        f"{args.power_windows} seeded windows each)\n"
    )
    print(table(["scenario", *CONFIGS, "alibi-detect MMDDrift"], power_rows))


if __name__ == "__main__":
    main()
