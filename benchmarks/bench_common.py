"""Helpers shared by the benchmark scripts: timing, the predict-latency table of a monitored
pyfunc against its inner model, GEMM rates and a machine summary."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


def timed(fn: Callable[[], Any], repeats: int, warm_up: bool = True) -> tuple[list[float], Any]:
    """Wall-clock seconds of ``repeats`` calls (after one warm-up call) and the last result."""
    result = fn() if warm_up else None
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return seconds, result


def median(values: list[float]) -> float:
    return statistics.median(values)


def interleaved(
    calls: dict[str, Callable[[], Any]],
    rounds: int,
    before: Callable[[], Any] | None = None,
) -> dict[str, list[float]]:
    """Wall-clock seconds of each call, ``rounds`` times, the calls taking turns.

    Every round runs each call once, starting from a different one each round, so slow
    spells of a shared machine land on all of them alike. ``before`` runs (untimed) before
    every call. One untimed warm-up round comes first.
    """
    names = list(calls)
    for name in names:
        calls[name]()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            if before is not None:
                before()
            start = time.perf_counter()
            calls[name]()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


def latency_header(references: Sequence[str] = ()) -> list[str]:
    """The columns of :func:`predict_latency`'s rows (``references`` as passed to it)."""
    return [
        "batch",
        "monitored model's store",
        "rounds",
        *references,
        "inner pyfunc predict",
        "monitored pyfunc predict",
        "ratio of medians",
        "median of per-round ratios",
        "target",
    ]


def predict_latency(
    inner_uri: str,
    monitored_uri: str,
    batches: Sequence[tuple[Any, int, float]],
    references: Mapping[str, Callable[[Any], Any]] | None = None,
) -> list[list[str]]:
    """Median ``predict`` times of a monitored pyfunc against its inner model's pyfunc.

    The monitored model is loaded twice without periodic checks: recording into an in-memory
    store, and into the SQLite store it uses by default. For each ``(batch, rounds, target)``
    the inner pyfunc, both monitored ones and each of ``references`` (name: a call of the
    batch, e.g. the raw model) take turns for ``rounds`` rounds (:func:`interleaved`); the
    SQLite store's writer is flushed, untimed, before every call, so the figure is the predict
    path's own cost. One row per batch and store, with the ratio of medians to the inner
    pyfunc, the median of the per-round ratios and the ``target`` ratio
    (:func:`latency_header`). Fails if the SQLite store dropped or rejected a row.
    """
    import mlflow
    from bench_models import NO_SCHEDULE, monitor_of, use_memory_store

    inner = mlflow.pyfunc.load_model(inner_uri)
    in_memory = mlflow.pyfunc.load_model(monitored_uri, model_config=NO_SCHEDULE)
    use_memory_store(in_memory)
    in_sqlite = mlflow.pyfunc.load_model(monitored_uri, model_config=NO_SCHEDULE)
    sql_store = monitor_of(in_sqlite).store
    references = references or {}
    rows = []
    for batch, rounds, target in batches:
        calls: dict[str, Callable[[], Any]] = {
            name: (lambda call=call, batch=batch: call(batch)) for name, call in references.items()
        }
        calls["inner"] = lambda batch=batch: inner.predict(batch)
        calls["in-memory"] = lambda batch=batch: in_memory.predict(batch)
        calls["SQLite"] = lambda batch=batch: in_sqlite.predict(batch)
        seconds = interleaved(calls, rounds, before=sql_store.flush)
        base = median(seconds["inner"])
        for store in ("in-memory", "SQLite"):
            ours = median(seconds[store])
            paired = median([a / b for a, b in zip(seconds[store], seconds["inner"], strict=True)])
            rows.append(
                [
                    f"{len(batch):,}",
                    store,
                    str(rounds),
                    *(milliseconds(median(seconds[name])) for name in references),
                    milliseconds(base),
                    milliseconds(ours),
                    f"**{ours / base:.3f}x**",
                    f"{paired:.3f}x",
                    f"<= {target:.2f}x",
                ]
            )
    counts = sql_store.counts()
    assert counts.dropped == 0 and counts.rejected == 0, counts
    for model in (in_memory, in_sqlite):
        monitor_of(model).close()
    return rows


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``."""
    return float(np.percentile(values, q))


def rss_bytes() -> int:
    """Resident set size of this process now (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def load_average() -> float:
    """The 1-minute load average (the machine is shared; a run under load is slower)."""
    return os.getloadavg()[0]


def numpy_gemm_rate(dtype: Any, size: int = 4096, repeats: int = 5) -> float:
    """Best FLOP/s of a square ``size`` matrix product in numpy (its BLAS, default threads)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    out = np.empty_like(a)
    seconds, _ = timed(lambda: np.matmul(a, b, out=out), repeats)
    return 2.0 * size**3 / min(seconds)


def torch_gemm_rate(size: int = 4096, repeats: int = 5) -> float | None:
    """Best float32 FLOP/s of a square product in torch, or None if torch is missing."""
    try:
        import torch
    except ImportError:
        return None
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    seconds, _ = timed(lambda: torch.matmul(a, b, out=out), repeats)
    return 2.0 * size**3 / min(seconds)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_summary(torch_line: bool = True) -> list[str]:
    """Lines describing the CPU, the BLAS numpy uses and the library versions."""
    from threadpoolctl import threadpool_info

    lines = [
        f"CPU: {cpu_model()}, {usable_cpus()} usable cores",
        f"python {platform.python_version()}, numpy {np.__version__}",
    ]
    for pool in threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
            lines.append(
                f"numpy BLAS: {pool['internal_api']} {pool['version']} "
                f"({pool.get('architecture')} kernels, {pool['num_threads']} threads)"
            )
    if not torch_line:
        return lines
    try:
        import torch

        lines.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    except ImportError:
        lines.append("torch not installed")
    return lines


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
