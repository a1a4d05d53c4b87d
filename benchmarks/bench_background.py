"""Target 5: drift checks off the hot path. Predict latency while a check runs beside it.

The monitored fake-review detector predicts one review at a time in the foreground while
drift checks run back to back beside it, each on a fresh window of ``drift_window_size``
recorded reviews (the default 1000, against the 1000-row reference, P = 100):

- **idle**: nothing else runs;
- **thread, statistics only**: the checks run in a thread of the same process, as
  ``start_monitoring``'s scheduler runs them, with ``log_checks`` off;
- **thread, logged**: the same, each check logged as an MLflow run with its plots (what
  ``wrap`` configures by default);
- **process, logged**: the checks run in another process (as ``mlflow-monitor check`` or a
  separate checker would), loading the same model.

The conditions take turns in phases of ``--phase-seconds`` (idle, thread, idle, thread, idle,
process) so that the shared machine's load lands on each alike; the table gives the median
(p50), p90 and mean latency per condition, the p50 ratio to idle, and how many checks ran and
their mean duration (a check still running when its phase ends finishes, and counts, before
the next phase starts). It also times one check on its own, split into its parts, in float64
and float32.

Run: ``python benchmarks/bench_background.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import load_average, machine_summary, median, percentile, table


def window_rows(size: int, seed: int) -> tuple[Any, Any, list[list[str]]]:
    """Predictions, probabilities and raw input rows for one drift window."""
    from reviews_data import make_reviews

    texts = make_reviews(size, seed=seed)["text"].tolist()
    rng = np.random.default_rng(seed)
    probabilities = rng.random(size)
    return (probabilities >= 0.5).astype(np.int64), probabilities, [[t] for t in texts]


def check_loop(monitor: Any, running: Any, done: Any, window: tuple[Any, Any, list]) -> None:
    """While ``running`` is set, refill the drift window and check; add each check and its
    seconds to ``done`` (``[checks, seconds]``)."""
    predictions, probabilities, rows = window
    while running.is_set():
        monitor.record_predictions(predictions, probabilities, features=rows)
        start = time.perf_counter()
        result = monitor.check_drift()
        seconds = time.perf_counter() - start
        assert result.ran, result.reason
        with done.get_lock():
            done[0] += 1
            done[1] += seconds


def process_checker(
    uri: str, tracking_uri: str, ready: Any, running: Any, quit_: Any, busy: Any, done: Any
) -> None:
    """Child process: load the monitored model, then check whenever ``running`` is set."""
    import mlflow
    from bench_models import NO_SCHEDULE, monitor_of, quiet, use_memory_store

    quiet()
    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(uri, model_config=NO_SCHEDULE)
    use_memory_store(model)
    monitor = monitor_of(model)
    window = window_rows(monitor.config.drift_window_size, seed=11)
    ready.set()
    while not quit_.is_set():
        if running.wait(0.05):
            busy.value = 1
            check_loop(monitor, running, done, window)
            busy.value = 0


def check_parts(model: Any, dtype: str, repeats: int) -> dict[str, float]:
    """Median seconds of one drift check and of its parts, with ``dtype`` kernel products."""
    from mlflow_monitor.drift.detector import DriftDetector
    from mlflow_monitor.drift.mmd import median_heuristic_sigma, mmd_permutation_test

    wrapper = model.unwrap_python_model()
    monitor = wrapper.monitor
    original = monitor.drift_detector
    config = dataclasses.replace(monitor.config, drift_dtype=dtype)
    detector = DriftDetector.from_config(config, wrapper._features_of_rows)
    monitor.drift_detector = detector.fit(original.reference_, preprocessed=True)
    window = window_rows(monitor.config.drift_window_size, seed=12)
    names = ("check", "unlogged", "features", "mmd", "sigma")
    parts: dict[str, list[float]] = {k: [] for k in names}
    check_logger = monitor.check_logger
    for _ in range(repeats):
        for part, logger in (("check", check_logger), ("unlogged", None)):
            monitor.check_logger = logger
            monitor.record_predictions(window[0], window[1], features=window[2])
            start = time.perf_counter()
            monitor.check_drift()
            parts[part].append(time.perf_counter() - start)
        monitor.check_logger = check_logger
        start = time.perf_counter()
        features = np.asarray(wrapper._features_of_rows(window[2]), dtype=np.float64)
        parts["features"].append(time.perf_counter() - start)
        reference = detector.reference_
        start = time.perf_counter()
        mmd_permutation_test(reference, features, detector.sigma_, 100, dtype=np.dtype(dtype))
        parts["mmd"].append(time.perf_counter() - start)
        start = time.perf_counter()
        median_heuristic_sigma(np.concatenate([reference, features])[-1000:])
        parts["sigma"].append(time.perf_counter() - start)
    monitor.drift_detector = original
    return {k: median(v) for k, v in parts.items()}


CONDITIONS = {
    "idle": "nothing else runs",
    "thread, statistics only": "checks in a thread, log_checks off",
    "thread, logged": "checks in a thread, each logged as an MLflow run (wrap's default)",
    "process, logged": "checks in another process, logged",
}
PHASES = [
    "idle",
    "thread, statistics only",
    "idle",
    "thread, logged",
    "idle",
    "process, logged",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase-seconds", type=float, default=3.0)
    parser.add_argument("--cycles", type=int, default=3, help="rounds of the six phases")
    parser.add_argument("--check-repeats", type=int, default=3)
    args = parser.parse_args()

    import mlflow
    from bench_models import NO_SCHEDULE, monitor_of, register_models, use_memory_store
    from reviews_data import make_reviews

    load_before = load_average()
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-background-") as tmp:
        models = register_models(Path(tmp))
        model = mlflow.pyfunc.load_model(models.monitored_uri, model_config=NO_SCHEDULE)
        use_memory_store(model)
        monitor = monitor_of(model)
        check_logger = monitor.check_logger
        n_features = monitor.drift_detector.n_features
        check_parts(model, "float64", 1)  # warm-up: the first logged check sets up matplotlib
        parts = {d: check_parts(model, d, args.check_repeats) for d in ("float64", "float32")}
        thread_window = window_rows(monitor.config.drift_window_size, seed=10)
        review = make_reviews(1, seed=9)[["text"]]

        ready, running, quit_ = context.Event(), context.Event(), context.Event()
        busy, process_done = context.Value("i", 0), context.Array("d", 2)
        checker = context.Process(
            target=process_checker,
            args=(
                models.monitored_uri,
                models.tracking_uri,
                ready,
                running,
                quit_,
                busy,
                process_done,
            ),
        )
        checker.start()
        if not ready.wait(300):
            raise RuntimeError("the checker process did not start")
        latencies: dict[str, list[float]] = {name: [] for name in CONDITIONS}
        checks = {name: [0.0, 0.0] for name in CONDITIONS}  # checks, their seconds
        for _ in range(20):
            model.predict(review)  # warm-up
        for phase in PHASES * args.cycles:
            thread_running = threading.Event()
            thread_done = multiprocessing.Array("d", 2)
            worker = threading.Thread(
                target=check_loop, args=(monitor, thread_running, thread_done, thread_window)
            )
            before = list(process_done)
            if phase.startswith("thread"):
                monitor.check_logger = check_logger if phase.endswith("logged") else None
                thread_running.set()
                worker.start()
            elif phase.startswith("process"):
                running.set()
            end = time.perf_counter() + args.phase_seconds
            times = latencies[phase]
            while time.perf_counter() < end:
                start = time.perf_counter()
                model.predict(review)
                times.append(time.perf_counter() - start)
            # The check in flight finishes before the next phase starts.
            if phase.startswith("thread"):
                thread_running.clear()
                worker.join()
                checks[phase] = [a + b for a, b in zip(checks[phase], thread_done, strict=True)]
            elif phase.startswith("process"):
                running.clear()
                while busy.value:
                    time.sleep(0.005)
                done = [a - b for a, b in zip(process_done, before, strict=True)]
                checks[phase] = [a + b for a, b in zip(checks[phase], done, strict=True)]
        quit_.set()
        checker.join(60)
        monitor.close()

    idle = median(latencies["idle"])
    rows = []
    for name, values in latencies.items():
        if not values:
            continue
        mid = median(values)
        seconds = args.phase_seconds * args.cycles * PHASES.count(name)
        rows.append(
            [
                f"{name}: {CONDITIONS[name]}",
                f"{len(values) / seconds:,.0f}",
                f"{mid * 1e3:.3f} ms",
                f"{percentile(values, 90) * 1e3:.3f} ms",
                f"{np.mean(values) * 1e3:.3f} ms",
                f"**{mid / idle:.3f}x**" if name != "idle" else "1x",
                f"{checks[name][0]:.0f}" if name != "idle" else "",
                f"{checks[name][1] / checks[name][0]:.2f} s" if checks[name][0] else "",
                "<= 1.20x" if name.startswith("thread") else "",
            ]
        )
    print("# Drift checks beside predictions\n")
    for line in machine_summary(torch_line=False):
        print(f"- {line}")
    print(f"- 1-min load average: {load_before:.2f} before, {load_average():.2f} after")
    print(
        f"- model: monitored fake-review detector, batch 1; checks on {n_features} drift "
        "features, window 1000, reference 1000, P = 100; phases of "
        f"{args.phase_seconds:g} s, {args.cycles} rounds\n"
    )
    header = ["checks running", "predictions/s", "p50", "p90", "mean", "p50 vs idle"]
    header += ["checks", "seconds per check", "target"]
    print(table(header, rows))
    print("\nOne drift check and its parts (median):\n")
    names = ("check", "unlogged", "features", "mmd", "sigma")
    part_rows = [
        [dtype, *(f"{values[k] * 1e3:.1f} ms" for k in names)] for dtype, values in parts.items()
    ]
    header = ["kernel dtype", "check_drift, logged", "check_drift, statistics only"]
    header += ["features from raw rows", "MMD test", "bandwidth (median heuristic)"]
    print(table(header, part_rows))


if __name__ == "__main__":
    main()
