"""Drift alarms (issue #12): false retraining triggers, detection delay, per-reference level.

Three figures, each for three rules measured in the same run on the same windows:

- **ours**: the monitor's default, the drift alarm (``drift_alarm_checks`` 5000,
  ``drift_alarm_allowance`` 1.5, ``drift_min_effect`` 0.1) over the check's family-wise
  verdict (MMD + corrected per-feature KS tests);
- **p < 0.05**: the rule before the alarm policy, a trigger on every check whose MMD
  permutation p-value is below ``drift_p_value`` = 0.05 (the built-in test's ``mmd_p_value``
  of the same checks);
- **alibi-detect**: ``MMDDrift`` (pytorch backend, 100 permutations, its own median-heuristic
  bandwidth), a trigger whenever ``p < 0.05``; alibi-detect has no alarm policy of its own.

The detection figure also has an **oracle** column: the same alarm policy fed by the best
test there is for each case, one that is told the shift (the moved column and its
direction; for a class-mix shift the direction between the over-represented class and the
others, from the data set's labels) and runs a one-sided z-test of the window's mean along it.
No monitor knows this; it bounds what any drift test could catch with the same false-alarm
budget, so a case the oracle misses is beyond the information in two windows.

Triggers pass the default cooldown (60 minutes at one check every 30: a trigger suppresses
the next check's), as they do in the monitor.

1. **False triggers per 1000 checks without drift**: Gaussian references (2000 rows, 8
   features) with 300-row windows of the same distribution, and streams made from random
   halves of scikit-learn's bundled data sets (breast_cancer, wine, digits): the reference
   is one half, every window a random subset of the other.
2. **Shifts caught within 2 checks**: 25 cases on those data sets, 10 class-mix shifts
   (windows drawn with one class over-represented) and 15 single-feature shifts (one column
   moved by 0.5 reference SDs), each tried on ``--trials`` random splits.
3. **Per-reference false-alarm rate**: the rate of significant checks (alpha = 0.05) for each
   of several fixed Gaussian references, over many fresh windows each; the goal is every
   reference within [0.5, 1.6] x alpha = [2.5%, 8%]. Three sizes: a reference about the
   window's size (400 and 300 rows), 6.7x and 10x the window. For a fixed reference the rate
   depends on the reference's own sampling error, which no test can see (it would need the
   population the reference came from); it shrinks next to the window's as n / m grows.
   With 250 windows a rate has a binomial standard error of about 1.4 points at 5%.

Run: ``python benchmarks/bench_alarms.py`` (about 5 minutes on an idle 2-core machine, three
times that under load; ``--quick`` for a one-minute run, ``--skip-alibi`` without alibi-detect,
``--only`` for one figure, ``--alarm-checks``/``--allowance``/``--min-effect`` to try other
alarm settings, ``--help`` for the sizes). alibi-detect takes 1-5 s a check at these sizes, so
it runs on the first few windows of each setting only.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
from bench_common import load_average, machine_summary, table

from mlflow_monitor import DriftDetector, MonitorConfig
from mlflow_monitor.drift.alarm import AlarmPolicy
from mlflow_monitor.results import DriftResult

ALPHA = 0.05
COOLDOWN_CHECKS = 2  # 60 minutes of cooldown at one check every 30 minutes
WINDOW_ROWS = {"breast_cancer": 100, "wine": 30, "digits": 200}


@dataclass
class Tally:
    """Triggers of the three rules over some checks."""

    checks: int = 0
    ours: int = 0
    today: int = 0
    alibi: int = 0
    alibi_checks: int = 0
    notes: list[str] = field(default_factory=list)


def with_cooldown(decisions: list[bool]) -> int:
    """Triggers that pass a cooldown of :data:`COOLDOWN_CHECKS` checks."""
    fired, last = 0, -math.inf
    for index, wants in enumerate(decisions):
        if wants and index - last >= COOLDOWN_CHECKS:
            fired, last = fired + 1, index
    return fired


_DEFAULTS = MonitorConfig()
# the monitor's default alarm policy; --alarm-checks, --allowance and --min-effect change it
POLICY = {
    "expected_checks": _DEFAULTS.drift_alarm_checks,
    "allowance": _DEFAULTS.drift_alarm_allowance,
    "min_effect": _DEFAULTS.drift_min_effect,
}
# how our MMD p-value is computed; --mmd-null sets it (a list, so main can change it)
MMD_NULL = [_DEFAULTS.drift_mmd_null]


def alarms(results: list[DriftResult]) -> list[bool]:
    policy = AlarmPolicy(**POLICY)
    return [policy.update(r).fired for r in results]


class Alibi:
    """alibi-detect's MMDDrift on one reference, or nothing when it is not installed."""

    def __init__(self, reference: np.ndarray) -> None:
        warnings.filterwarnings("ignore")
        from alibi_detect.cd import MMDDrift

        self.detector = MMDDrift(
            reference.astype(np.float32), backend="pytorch", p_val=ALPHA, n_permutations=100
        )

    def p_value(self, window: np.ndarray) -> float:
        return float(self.detector.predict(window.astype(np.float32))["data"]["p_val"])


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    loader = getattr(datasets, f"load_{name}")
    data = loader()
    return np.asarray(data.data, dtype=np.float64), np.asarray(data.target)


def split(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """A random half as the reference, the other half as production traffic."""
    order = rng.permutation(len(x))
    half = len(x) // 2
    return x[order[:half]], x[order[half:]], y[order[half:]]


def detector(reference: np.ndarray, seed: int) -> DriftDetector:
    return DriftDetector(p_val=ALPHA, random_seed=seed, mmd_null=MMD_NULL[0]).fit(reference)


def run_stream(
    reference: np.ndarray,
    windows: Iterator[np.ndarray],
    seed: int,
    alibi_checks: int,
    tally: Tally,
) -> list[DriftResult]:
    checks = detector(reference, seed)
    results, alibi_p = [], []
    alibi = Alibi(reference) if alibi_checks else None
    for index, window in enumerate(windows):
        results.append(checks.detect(window))
        if alibi is not None and index < alibi_checks:
            alibi_p.append(alibi.p_value(window))
    tally.checks += len(results)
    tally.ours += with_cooldown(alarms(results))
    tally.today += with_cooldown([(r.mmd_p_value or 1.0) < ALPHA for r in results])
    tally.alibi += with_cooldown([p < ALPHA for p in alibi_p])
    tally.alibi_checks += len(alibi_p)
    return results


def per_1000(count: int, checks: int) -> str:
    if not checks:
        return "not run"
    from scipy.stats import chi2

    # exact one-sided 95% upper bound of a Poisson count (3.0 for none, 4.74 for one)
    upper = float(chi2.ppf(0.95, 2 * (count + 1))) / 2
    return f"{1000 * count / checks:.2f} ({count}/{checks}; <= {1000 * upper / checks:.1f})"


# -- 1. false triggers ----------------------------------------------------------------------


def false_triggers(args: argparse.Namespace) -> list[list[str]]:
    rows = []
    gauss = Tally()
    for ref in range(args.gauss_refs):
        rng = np.random.default_rng(1000 + ref)
        reference = rng.normal(size=(2000, 8))
        windows = (rng.normal(size=(300, 8)) for _ in range(args.gauss_checks))
        run_stream(reference, windows, ref, args.alibi_stream_checks if ref == 0 else 0, gauss)
    rows.append(["Gaussian, n = 2000, d = 8, m = 300", gauss])
    for name, m in WINDOW_ROWS.items():
        x, y = load(name)
        real = Tally()
        for stream in range(args.streams):
            rng = np.random.default_rng(2000 + stream)
            reference, traffic, _ = split(x, y, rng)
            windows = (
                traffic[rng.choice(len(traffic), m, replace=False)]
                for _ in range(args.stream_checks)
            )
            alibi = args.alibi_stream_checks if stream == 0 else 0
            run_stream(reference, windows, stream, alibi, real)
        rows.append([f"{name}, random halves, m = {m}", real])
    return [
        [
            label,
            per_1000(t.ours, t.checks),
            per_1000(t.today, t.checks),
            per_1000(t.alibi, t.alibi_checks),
        ]
        for label, t in rows
    ]


# -- 2. detection -----------------------------------------------------------------------------


Case = tuple[str, str, Callable[..., np.ndarray], Callable[[np.ndarray, np.ndarray], np.ndarray]]


def oracle_alarms(reference: np.ndarray, windows: list[np.ndarray], direction: np.ndarray) -> bool:
    """Whether the alarm policy fires within the windows when each check's evidence is the
    one-sided z-test of the window's mean along the known shift ``direction``."""
    from scipy.special import ndtr

    from mlflow_monitor.drift.verdict import check_score

    ref = reference @ direction
    sd = float(ref.std(ddof=1)) or 1.0
    policy = AlarmPolicy(**POLICY)
    fired = False
    for window in windows:
        values = window @ direction
        z = (values.mean() - ref.mean()) / (sd * math.sqrt(1 / len(ref) + 1 / len(values)))
        p = float(ndtr(-z))
        check = SimpleNamespace(
            score=check_score(p),
            p_value=p,
            effect_size=abs(values.mean() - ref.mean()) / sd,
            timestamp=datetime.now(UTC),
        )
        fired |= policy.update(check).fired  # type: ignore[arg-type]
    return fired


def shift_cases() -> list[Case]:
    """25 cases: (data set, description, window maker, shift direction from (x, y))."""
    cases: list[Case] = []

    def class_mix(target: int, fraction: float) -> Callable[..., np.ndarray]:
        def make(traffic, labels, reference, m, rng):
            weights = np.where(labels == target, fraction / np.mean(labels == target), 0.0)
            weights += np.where(labels != target, (1 - fraction) / np.mean(labels != target), 0.0)
            rows = rng.choice(len(traffic), m, replace=False, p=weights / weights.sum())
            return traffic[rows]

        return make

    def one_feature(column: int) -> Callable[..., np.ndarray]:
        def make(traffic, labels, reference, m, rng):
            window = traffic[rng.choice(len(traffic), m, replace=False)].copy()
            window[:, column] += 0.5 * reference[:, column].std(ddof=1)
            return window

        return make

    mixes = {
        "breast_cancer": [(0, 0.7), (1, 0.9)],
        "wine": [(0, 0.7), (1, 0.8), (2, 0.6)],
        "digits": [(0, 0.4), (1, 0.4), (3, 0.4), (7, 0.4), (8, 0.4)],
    }
    singles = {"breast_cancer": 5, "wine": 3, "digits": 7}

    def towards_class(target: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        def direction(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            scale = x.std(axis=0, ddof=1)
            scale[scale == 0] = 1.0
            # Fisher's direction on standardised columns, regularised for digits' constants
            z = x / scale
            within = np.cov(z.T) + 1e-3 * np.eye(x.shape[1])
            gap = z[y == target].mean(axis=0) - z[y != target].mean(axis=0)
            return np.linalg.solve(within, gap) / scale

        return direction

    def along(column: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        def direction(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return np.eye(x.shape[1])[column]

        return direction

    for name in WINDOW_ROWS:
        for target, fraction in mixes[name]:
            cases.append(
                (
                    name,
                    f"class {target} at {fraction:.0%}",
                    class_mix(target, fraction),
                    towards_class(target),
                )
            )
        x, _ = load(name)
        varied = np.flatnonzero(x.std(axis=0) > 0.5 * np.median(x.std(axis=0)))
        for column in np.random.default_rng(7).choice(varied, singles[name], replace=False):
            cases.append(
                (name, f"feature {column} +0.5 SD", one_feature(int(column)), along(int(column)))
            )
    return cases


def detections(args: argparse.Namespace) -> tuple[list[list[str]], dict[str, float]]:
    rows, totals = [], {"ours": 0.0, "today": 0.0, "alibi": 0.0, "oracle": 0.0}
    data = {name: load(name) for name in WINDOW_ROWS}
    for case_index, (name, what, make, direction_of) in enumerate(shift_cases()):
        caught = {"ours": 0, "today": 0, "alibi": 0, "oracle": 0}
        direction = direction_of(*data[name])
        for trial in range(args.trials):
            rng = np.random.default_rng(3000 + 100 * case_index + trial)
            reference, traffic, labels = split(*data[name], rng)
            m = WINDOW_ROWS[name]
            windows = [make(traffic, labels, reference, m, rng) for _ in range(2)]
            checks = detector(reference, trial)
            results = [checks.detect(w) for w in windows]
            caught["ours"] += any(alarms(results))
            caught["today"] += any((r.mmd_p_value or 1.0) < ALPHA for r in results)
            caught["oracle"] += oracle_alarms(reference, windows, direction)
            if not args.skip_alibi:
                alibi = Alibi(reference)
                caught["alibi"] += any(alibi.p_value(w) < ALPHA for w in windows)
        for key in totals:
            totals[key] += caught[key] / args.trials
        alibi_cell = "-" if args.skip_alibi else f"{caught['alibi']}/{args.trials}"
        rows.append(
            [
                name,
                what,
                f"{caught['ours']}/{args.trials}",
                f"{caught['today']}/{args.trials}",
                alibi_cell,
                f"{caught['oracle']}/{args.trials}",
            ]
        )
    return rows, totals


# -- 3. per-reference level -------------------------------------------------------------------


def reference_levels(
    args: argparse.Namespace, n_reference: int, m: int, alibi_windows: int
) -> list[list[str]]:
    rows = []
    for ref in range(args.levels_refs):
        rng = np.random.default_rng(4000 + ref)
        reference = rng.normal(size=(n_reference, 8))
        checks = detector(reference, ref)
        alibi = Alibi(reference) if alibi_windows else None
        ours = today = 0
        alibi_hits = 0
        for index in range(args.levels_windows):
            window = rng.normal(size=(m, 8))
            result = checks.detect(window)
            ours += result.drift_detected
            today += (result.mmd_p_value or 1.0) < ALPHA
            if alibi is not None and index < alibi_windows:
                alibi_hits += alibi.p_value(window) < ALPHA
        alibi_cell = (
            "-"
            if alibi is None
            else f"{100 * alibi_hits / alibi_windows:.1f}% (of {alibi_windows})"
        )
        rows.append(
            [
                f"n = {n_reference}, m = {m}, reference {ref}",
                f"{100 * ours / args.levels_windows:.1f}%",
                f"{100 * today / args.levels_windows:.1f}%",
                alibi_cell,
            ]
        )
    return rows


def spread(rows: list[list[str]], column: int) -> str:
    values = [float(r[column].split("%")[0]) for r in rows if r[column] != "-"]
    if not values:
        return "-"
    inside = sum(2.5 <= v <= 8.0 for v in values)
    return f"{min(values):.1f}-{max(values):.1f}% ({inside}/{len(values)} in [2.5, 8])"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (about 1 minute)")
    parser.add_argument("--skip-alibi", action="store_true")
    parser.add_argument("--gauss-refs", type=int, default=3)
    parser.add_argument("--gauss-checks", type=int, default=150)
    parser.add_argument("--streams", type=int, default=10, help="random splits per data set")
    parser.add_argument("--stream-checks", type=int, default=40)
    parser.add_argument("--trials", type=int, default=2, help="random splits per shift case")
    parser.add_argument("--levels-refs", type=int, default=6)
    parser.add_argument("--levels-windows", type=int, default=250)
    parser.add_argument("--alibi-stream-checks", type=int, default=8)
    parser.add_argument("--alibi-level-windows", type=int, default=10)
    parser.add_argument("--alarm-checks", type=float, default=POLICY["expected_checks"])
    parser.add_argument("--allowance", type=float, default=POLICY["allowance"])
    parser.add_argument("--min-effect", type=float, default=POLICY["min_effect"])
    parser.add_argument(
        "--mmd-null",
        choices=["permutation", "gamma"],
        default=MMD_NULL[0],
        help="how our MMD p-value is computed (the p < 0.05 column uses the same)",
    )
    parser.add_argument(
        "--only", choices=["triggers", "detections", "levels"], help="run one figure only"
    )
    args = parser.parse_args()
    MMD_NULL[0] = args.mmd_null
    # small references are the point of some streams: the detector's warning would repeat
    logging.getLogger("mlflow_monitor").setLevel(logging.ERROR)
    POLICY.update(
        expected_checks=args.alarm_checks, allowance=args.allowance, min_effect=args.min_effect
    )
    if args.quick:
        args.gauss_refs, args.gauss_checks, args.streams, args.stream_checks = 1, 100, 3, 30
        args.trials, args.levels_refs, args.levels_windows = 1, 4, 100
        args.alibi_stream_checks, args.alibi_level_windows = 8, 8
    if args.skip_alibi:
        args.alibi_stream_checks = args.alibi_level_windows = 0
    started = time.perf_counter()
    print("\n".join(f"- {line}" for line in machine_summary(torch_line=False)))
    print(f"- 1-min load average: {load_average():.2f} before")
    header = ["stream", "ours (alarm)", "p < 0.05 (before)", "alibi-detect p < 0.05"]

    print(f"- alarm policy: {POLICY}; MMD null: {MMD_NULL[0]}")
    if args.only in (None, "triggers"):
        print("\n## 1. False triggers per 1000 checks without drift (95% upper bound)\n")
        print(table(header, false_triggers(args)))

    if args.only in (None, "detections"):
        print("\n## 2. Shifts caught within 2 checks\n")
        rows, totals = detections(args)
        header = ["data set", "shift", "ours", "p < 0.05 (before)", "alibi-detect"]
        print(table([*header, "oracle (told the shift)"], rows))
        alibi_total = "-" if args.skip_alibi else f"{totals['alibi']:.1f}"
        print(
            f"\ncaught (of {len(rows)}, averaged over {args.trials} splits each): ours "
            f"{totals['ours']:.1f}, p < 0.05 {totals['today']:.1f}, alibi-detect {alibi_total}, "
            f"oracle with our alarm policy {totals['oracle']:.1f}"
        )

    if args.only in (None, "levels"):
        print("\n## 3. Per-reference rate of significant checks (alpha = 5%, d = 8)\n")
        # (reference rows, window rows): the spread depends on the window's share m / (n + m)
        settings = ((400, 300), (2000, 300), (1000, 100))
        level_rows = []
        for n_reference, m in settings:
            # alibi-detect takes 1-5 s a check here: a few windows at n = 400 only
            alibi = args.alibi_level_windows if n_reference == 400 else 0
            level_rows += reference_levels(args, n_reference, m, alibi)
        header = ["reference", "ours (check verdict)", "p < 0.05 (MMD only)", "alibi-detect"]
        print(table(header, level_rows))
        for n_reference, m in settings:
            part = [r for r in level_rows if r[0].startswith(f"n = {n_reference}, m = {m},")]
            print(
                f"\nn = {n_reference}, m = {m} (reference {n_reference / m:.1f}x the window): "
                f"spread ours {spread(part, 1)}, p < 0.05 {spread(part, 2)}, "
                f"alibi-detect {spread(part, 3)}"
            )
    print(f"\n- 1-min load average: {load_average():.2f} after")
    print(f"- {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
