"""Target 3: the predict path. Latency, recording throughput and memory of a monitored pyfunc.

1. **Latency.** Median ``predict`` time of the example fake-review detector (TF-IDF + logistic
   regression) loaded as its own pyfunc (``mlflow.pyfunc.load_model("models:/reviews/1")``)
   against the same model wrapped by ``mlflow_monitor.model.wrap.wrap``, at batch 1 and
   10,000, in the same run. The monitored model records into an in-process store
   (``InMemoryStore``) or into the SQLite store it uses by default; the calls take turns
   (interleaved) so that load from other processes lands on all of them alike. Before every
   call the SQLite store's writer is flushed (untimed), so the figure is the predict path's
   own cost; the writer's sustained rate is measured in part 2.
2. **Recording throughput.** Rows per second through ``ModelMonitor.record_predictions``
   (and ``record_prediction`` one at a time) into the in-memory store, and through the
   SQLite store until its background writer has written them.
3. **Memory.** Resident memory of a fresh process while 2 x 10**6 predictions are recorded
   in batches of 1000 (features d = 32, labels included), and in a second process the Python
   heap (tracemalloc): the store keeps the latest ``max_pending_feedback`` predictions and
   ``drift_window_size`` feature rows, so both should level off once it is full.

Run: ``python benchmarks/bench_predict.py`` (``--help`` for the sizes; about 1-2 minutes).
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import (
    latency_header,
    load_average,
    machine_summary,
    predict_latency,
    rss_bytes,
    table,
)

MIB = 1024**2


def latency(models: Any, rounds_small: int, rounds_large: int) -> list[list[str]]:
    """Part 1: median predict times of the inner pyfunc and the monitored one."""
    from reviews_data import make_reviews

    return predict_latency(
        models.inner_uri,
        models.monitored_uri,
        [
            (make_reviews(1, seed=7)[["text"]], rounds_small, 1.05),
            (make_reviews(10_000, seed=7)[["text"]], rounds_large, 1.02),
        ],
        references={"raw sklearn predict_proba": models.pipeline.predict_proba},
    )


def raw_rows_monitor(store_uri: str | None = None) -> Any:
    """A monitor that keeps raw input rows for drift, as a monitored pyfunc does."""
    from mlflow_monitor.drift.detector import DriftDetector
    from mlflow_monitor.monitor.monitor import ModelMonitor

    monitor = ModelMonitor({"store_uri": store_uri, "model_name": "throughput"})
    monitor.drift_detector = DriftDetector(preprocess_fn=lambda rows: rows)
    return monitor


def throughput(root: Path, total: int) -> list[list[str]]:
    """Part 2: rows per second into the in-memory store and through the SQLite store."""
    from bench_models import quiet
    from reviews_data import make_reviews

    from mlflow_monitor.monitor.monitor import ModelMonitor

    quiet()
    rng = np.random.default_rng(0)
    texts = make_reviews(10_000, seed=8)["text"].tolist()
    rows = []
    for size in (1, 100, 1000, 10_000):
        for kind in ("numeric d = 32", "raw input rows"):
            n = min(total, 20_000) if size == 1 else total
            numeric = kind.startswith("numeric")
            monitor = ModelMonitor({"model_name": "throughput"}) if numeric else raw_rows_monitor()
            probabilities = rng.random(size)
            predictions = (probabilities >= 0.5).astype(np.int64)
            features: Any = (
                rng.standard_normal((size, 32)) if numeric else [[t] for t in texts[:size]]
            )
            gc.collect()
            start = time.perf_counter()
            if size == 1:
                row = features[0]
                for _ in range(n):
                    monitor.record_prediction(1, 0.7, features=row)
            else:
                for _ in range(n // size):
                    monitor.record_predictions(predictions, probabilities, features=features)
            seconds = time.perf_counter() - start
            call = "record_prediction" if size == 1 else "record_predictions"
            rows.append(
                [
                    "in-memory",
                    f"{call}, batch {size:,}",
                    kind,
                    f"{n:,}",
                    f"{n / seconds:,.0f}",
                    f"{seconds / n * 1e6:.2f} us",
                ]
            )
    # The SQLite store: what its background writer sustains, from the first add until
    # every row is in the database. The queue (100,000 rows) holds the whole run.
    n = min(total, 90_000)
    uri = f"sqlite:///{root / 'throughput.db'}"
    for kind in ("numeric d = 32", "raw input rows"):
        numeric = kind.startswith("numeric")
        monitor = (
            ModelMonitor({"model_name": f"throughput-{kind[:3]}", "store_uri": uri})
            if numeric
            else raw_rows_monitor(uri)
        )
        size = 1000
        probabilities = rng.random(size)
        predictions = (probabilities >= 0.5).astype(np.int64)
        features = rng.standard_normal((size, 32)) if numeric else [[t] for t in texts[:size]]
        start = time.perf_counter()
        for _ in range(n // size):
            monitor.record_predictions(predictions, probabilities, features=features)
        queued = time.perf_counter() - start
        monitor.store.flush()
        seconds = time.perf_counter() - start
        counts = monitor.store.counts()
        monitor.close()
        rows.append(
            [
                "SQLite (until written)",
                f"record_predictions, batch {size:,}",
                kind,
                f"{n:,} ({counts.dropped} dropped)",
                f"{n / seconds:,.0f}",
                f"{seconds / n * 1e6:.2f} us ({queued / n * 1e6:.2f} us to queue)",
            ]
        )
    return rows


def memory_child(total: int, batch: int, every: int, trace: bool) -> None:
    """Part 3, in a fresh process: record ``total`` predictions; print samples as JSON.

    With ``trace`` the Python heap is measured with tracemalloc (which slows recording and
    adds its own memory to the RSS, so it runs separately).
    """
    import tracemalloc

    from mlflow_monitor.monitor.monitor import ModelMonitor

    if trace:
        tracemalloc.start()
    rng = np.random.default_rng(0)
    monitor = ModelMonitor({"model_name": "memory"})
    cfg = monitor.config
    probabilities = rng.random(batch)
    predictions = (probabilities >= 0.5).astype(np.int64)
    labels = rng.integers(0, 2, batch)
    features = rng.standard_normal((batch, 32))

    def sample(recorded: int) -> dict[str, Any]:
        return {
            "recorded": recorded,
            "rss": rss_bytes(),
            "heap": tracemalloc.get_traced_memory()[0] if trace else None,
            "held": monitor.store.counts().predictions,
            "window": monitor.store.pending_features(),
        }

    samples = [sample(0)]
    start = time.perf_counter()
    for recorded in range(batch, total + 1, batch):
        monitor.record_predictions(
            predictions, probabilities, features=features, true_labels=labels
        )
        if recorded % every == 0:
            samples.append(sample(recorded))
    seconds = time.perf_counter() - start
    result = {
        "samples": samples,
        "seconds": seconds,
        "capacity": cfg.max_pending_feedback,
        "window_size": cfg.drift_window_size,
    }
    print(json.dumps(result))


def memory(total: int) -> tuple[list[list[str]], dict[str, Any]]:
    """Part 3: run :func:`memory_child` in two fresh processes and tabulate their samples."""
    results = []
    for trace in (False, True):
        command = [sys.executable, __file__, "--memory-child", str(total)]
        child = subprocess.run(
            command + (["--trace"] if trace else []),
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
        )
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    plain, traced = results
    rows = [
        [
            f"{a['recorded']:,}",
            f"{a['rss'] / MIB:.1f} MiB",
            f"{b['heap'] / MIB:.1f} MiB",
            f"{a['held']:,}",
            f"{a['window']:,}",
        ]
        for a, b in zip(plain["samples"], traced["samples"], strict=True)
    ]
    return rows, plain | {"traced": traced["samples"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1500, help="interleaved rounds, batch 1")
    parser.add_argument("--rounds-large", type=int, default=30, help="rounds, batch 10,000")
    parser.add_argument("--rows", type=int, default=200_000, help="rows per throughput run")
    parser.add_argument("--memory-rows", type=int, default=2_000_000)
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, 1000, args.memory_child // 10, args.trace)
        return

    from bench_models import register_models

    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        root = Path(tmp)
        models = register_models(root)
        latency_rows = latency(models, args.rounds, args.rounds_large)
        throughput_rows = throughput(root, args.rows)
    memory_rows, memory_result = memory(args.memory_rows)

    print("# Predict path: monitored pyfunc vs. the inner model's pyfunc\n")
    for line in machine_summary(torch_line=False):
        print(f"- {line}")
    print(f"- 1-min load average: {load_before:.2f} before, {load_average():.2f} after")
    print(
        "- model: TF-IDF + logistic regression on synthetic reviews (examples/reviews_data.py), "
        "pyfunc returns predict_proba; MLflow SQLite tracking store, file artifacts\n"
    )
    print("## Latency (median of interleaved calls)\n")
    print(table(latency_header(["raw sklearn predict_proba"]), latency_rows))
    print("\n## Recording throughput\n")
    header = ["store", "call", "features", "rows", "rows/s", "per row"]
    print(table(header, throughput_rows))
    print(
        f"\n## Memory: {args.memory_rows:,} predictions in batches of 1000 "
        f"({memory_result['seconds']:.1f} s; the store keeps {memory_result['capacity']:,} "
        f"predictions and {memory_result['window_size']:,} drift rows)\n"
    )
    header = ["recorded", "RSS", "Python heap (tracemalloc, 2nd run)", "predictions held"]
    print(table([*header, "drift rows held"], memory_rows))
    samples, traced = memory_result["samples"], memory_result["traced"]
    full = next(i for i, s in enumerate(samples) if s["held"] >= memory_result["capacity"])
    print(
        f"\nFrom {samples[full]['recorded']:,} recorded (store full) to "
        f"{samples[-1]['recorded']:,}: RSS {(samples[-1]['rss'] - samples[full]['rss']) / MIB:+.1f}"
        f" MiB, Python heap {(traced[-1]['heap'] - traced[full]['heap']) / MIB:+.1f} MiB"
    )


if __name__ == "__main__":
    main()
