"""Code of ``benchmarks/`` the tests run, loaded from its file: the load generator of
``benchmarks/bench_load.py``."""

from __future__ import annotations

from tests.support.paths import BENCHMARKS, load_script

__all__ = ["LoadResult", "run_load"]

_bench_load = load_script(BENCHMARKS / "bench_load.py")
LoadResult = _bench_load.LoadResult
run_load = _bench_load.run_load
