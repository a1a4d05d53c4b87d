"""Write throughput of the SQL inference store: rows per second from add() to committed.

For each database (a SQLite file; a private PostgreSQL cluster from tests/support/postgres.py
unless ``--postgres-url`` names one), one store adds ``--rows`` predictions with ``--features``
drift features in batches of ``--batch``, from ``--writers`` processes at once, and the time
until every row is committed is measured; repeated ``--repeats`` times on a fresh stream each,
the median reported. With ``--classes K`` each row also carries a vector of K class
probabilities (a multiclass model's), timed beside the same rows without vectors.
Run: ``.venv/bin/python benchmarks/bench_store.py``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from bench_common import machine_summary, median, table

from mlflow_monitor.store.interface import PredictionBatch
from mlflow_monitor.store.sql.store import SqlInferenceStore


def write(
    uri: str,
    stream: str,
    rows: int,
    batch: int,
    features: int,
    start: float,
    copy: bool,
    classes: int = 0,
) -> float:
    """Add ``rows`` predictions and wait until they are committed; seconds taken."""
    if not copy:  # what PostgreSQL writers did before COPY, for comparison
        from mlflow_monitor.store.sql import schema

        schema._copy_insert = schema._executemany_insert  # type: ignore[assignment]
    store = SqlInferenceStore(uri, "bench", stream)
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(batch, features))
    vectors = rng.dirichlet(np.ones(classes), size=batch) if classes else None
    prefix = uuid.uuid4().hex[:8]
    while time.time() < start:  # all writers begin together
        time.sleep(0.001)
    began = time.perf_counter()
    for i in range(0, rows, batch):
        ids = [f"{prefix}-{j}" for j in range(i, i + batch)]
        store.add(
            PredictionBatch(
                ids, [1] * batch, [0.5] * batch, None, matrix, class_probabilities=vectors
            )
        )
    store.flush()
    seconds = time.perf_counter() - began
    assert store.dropped == 0 and store.rejected == 0, (store.dropped, store.rejected)
    store.close()
    return seconds


def run(uri: str, args: argparse.Namespace, copy: bool = True, classes: int = 0) -> list[float]:
    """Rows per second of each repeat (all writers' rows over the slowest writer's time)."""
    SqlInferenceStore(uri, "bench", "setup").close()  # create the schema outside the timing
    rates = []
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.writers, maxtasksperchild=1) as pool:  # a fresh import per run
        for repeat in range(args.repeats + 1):  # the first is a warm-up
            start = time.time() + 3.0  # after the spawned workers import
            stream = f"run-{repeat}-{uuid.uuid4().hex[:6]}"
            jobs = [
                pool.apply_async(
                    write,
                    (uri, stream, args.rows, args.batch, args.features, start, copy, classes),
                )
                for _ in range(args.writers)
            ]
            slowest = max(job.get() for job in jobs)
            if repeat:
                rates.append(args.writers * args.rows / slowest)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows per writer process")
    parser.add_argument("--batch", type=int, default=100, help="rows per add() call")
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--writers", type=int, default=1, help="processes writing at once")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--postgres-url", help="an existing database (default: a private one)")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--classes",
        type=int,
        default=0,
        help="also time rows with a vector of this many class probabilities",
    )
    parser.add_argument(
        "--compare-executemany",
        action="store_true",
        help="also time PostgreSQL with executemany instead of COPY",
    )
    args = parser.parse_args()

    print("\n".join(f"- {line}" for line in machine_summary()))
    print(f"- 1-min load average before: {os.getloadavg()[0]:.2f}")
    print(
        f"- {args.writers} writer process(es) x {args.rows} rows, batches of {args.batch}, "
        f"{args.features} float64 features, store defaults (batch_size 500, flush 1 s)"
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(("SQLite (WAL)", run(f"sqlite:///{tmp}/bench.db", args)))
        if args.classes:
            label = f"SQLite (WAL), {args.classes} class probabilities"
            results.append((label, run(f"sqlite:///{tmp}/bench.db", args, classes=args.classes)))
    if not args.skip_postgres:
        if args.postgres_url:
            results.append(("PostgreSQL, COPY", run(args.postgres_url, args)))
        else:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository
            from tests.support.postgres import PostgresServer, find_bin_dir

            bin_dir = find_bin_dir()
            if bin_dir is None:
                sys.exit("no PostgreSQL binaries under /usr/lib/postgresql; --skip-postgres")
            with PostgresServer(bin_dir, fsync=True) as server:
                version = bin_dir.parent.name
                url = server.create_database()
                name = f"PostgreSQL {version} (local, fsync on)"
                results.append((f"{name}, COPY", run(url, args)))
                if args.classes:
                    label = f"{name}, COPY, {args.classes} class probabilities"
                    results.append((label, run(url, args, classes=args.classes)))
                if args.compare_executemany:
                    results.append((f"{name}, executemany", run(url, args, copy=False)))
    print(f"- 1-min load average after: {os.getloadavg()[0]:.2f}\n")
    rows = [
        [
            name,
            f"{median(rates):,.0f}",
            f"{min(rates):,.0f}-{max(rates):,.0f}",
            str(len(rates)),
        ]
        for name, rates in results
    ]
    print(table(["database", "rows/s (median)", "range", "runs"], rows))


if __name__ == "__main__":
    main()
