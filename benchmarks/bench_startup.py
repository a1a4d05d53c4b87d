"""Target 4: start-up. The CLI's --help, ``import mlflow_monitor``, and loading a monitored model.

1. ``mlflow-monitor --help`` and ``python -c "import mlflow_monitor"``, each a fresh process,
   against a bare ``python -c pass`` (the interpreter's own start) and ``import mlflow`` (what
   an eager import of MLflow would add), the four taking turns; medians of ``--runs``.
   Also lists which heavy packages ``import mlflow_monitor`` pulls in (none should be).
2. ``mlflow.pyfunc.load_model`` of the example detector (``models:/reviews/1``) against its
   monitored wrapper, both from the registry of a SQLite tracking store:
   - warm: in one process, alternating, after one load of each (imports done);
   - cold: each load in a fresh process, timing ``load_model`` after ``import mlflow`` (so
     the flavor's own imports, scikit-learn or ours, count).
3. ``mlflow-monitor status models:/reviews-monitored/1`` (reads monitor.json, baseline.json and
   the store, read-only) against what a status cost when it loaded the monitored model, and
   against ``python -c 'import mlflow'``, the floor of anything that resolves a ``models:/``
   URI; fresh processes taking turns, medians of ``--status-runs``.

Run: ``python benchmarks/bench_startup.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import interleaved, load_average, machine_summary, median, table

HEAVY = (
    "mlflow",
    "sklearn",
    "scipy",
    "pandas",
    "sqlalchemy",
    "pyarrow",
    "torch",
    "alibi_detect",
    "matplotlib",
    "fastapi",
    "threadpoolctl",
)
REPO = Path(__file__).resolve().parent.parent


def executable(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def run(command: list[str]) -> None:
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def process_times(runs: int) -> list[list[str]]:
    """Part 1: wall time of four fresh processes, interleaved."""
    python = sys.executable
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import mlflow_monitor'": [python, "-c", "import mlflow_monitor"],
        "mlflow-monitor --help": [executable("mlflow-monitor"), "--help"],
        "python -c 'import mlflow'": [python, "-c", "import mlflow"],
    }
    seconds = interleaved({k: lambda c=c: run(c) for k, c in commands.items()}, runs)
    bare = median(seconds["python -c pass"])
    targets = {"python -c 'import mlflow_monitor'": 0.5, "mlflow-monitor --help": 1.0}
    rows = []
    for name, values in seconds.items():
        mid = median(values)
        target = targets.get(name)
        rows.append(
            [
                f"`{name}`",
                f"{mid:.3f} s ({min(values):.3f}-{max(values):.3f})",
                f"{mid - bare:+.3f} s" if name != "python -c pass" else "",
                f"< {target} s" if target else "",
            ]
        )
    return rows


def heavy_imports() -> list[str]:
    """Heavy packages present in ``sys.modules`` after ``import mlflow_monitor``."""
    code = (
        "import sys, json, mlflow_monitor; "
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return list(json.loads(out.stdout))


def cold_load(uri: str) -> float:
    """Seconds of one ``load_model`` in a fresh process (after ``import mlflow``)."""
    code = (
        "import time, os, warnings, logging; warnings.simplefilter('ignore'); "
        "logging.disable(logging.WARNING); import mlflow; "
        "start = time.perf_counter(); "
        f"model = mlflow.pyfunc.load_model({uri!r}); "
        "print(time.perf_counter() - start); os._exit(0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=os.environ
    )
    return float(out.stdout.strip().splitlines()[-1])


def status_times(monitored_uri: str, runs: int) -> list[list[str]]:
    """Part 3: a read-only status against loading the model for one, fresh processes."""
    python = sys.executable
    by_loading = (
        "import logging, os, warnings; warnings.simplefilter('ignore'); "
        "logging.disable(logging.WARNING); import mlflow; "
        f"model = mlflow.pyfunc.load_model({monitored_uri!r}, "
        "model_config={'schedule_checks': False}); "
        "model.unwrap_python_model().monitor.get_monitoring_status(); os._exit(0)"
    )
    commands = {
        f"`mlflow-monitor status {monitored_uri}`": [
            executable("mlflow-monitor"),
            "status",
            monitored_uri,
        ],
        "load the monitored model, then get_monitoring_status()": [python, "-c", by_loading],
        "`python -c 'import mlflow'`": [python, "-c", "import mlflow"],
    }
    seconds = interleaved({k: lambda c=c: run(c) for k, c in commands.items()}, runs)
    status = median(seconds[next(iter(commands))])
    rows = []
    for name, values in seconds.items():
        mid = median(values)
        rows.append(
            [name, f"{mid:.3f} s ({min(values):.3f}-{max(values):.3f})", f"{mid / status:.2f}x"]
        )
    return rows


def load_times(
    runs_warm: int, runs_cold: int, runs_status: int
) -> tuple[list[list[str]], list[list[str]]]:
    """Part 2: load_model of the inner and the monitored model, warm and cold; and part 3."""
    import mlflow
    from bench_models import monitor_of, register_models

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        models = register_models(Path(tmp))
        loaded = []

        def load_monitored() -> None:
            model = mlflow.pyfunc.load_model(models.monitored_uri)
            loaded.append(model)

        def close_loaded() -> None:
            while loaded:  # stop the scheduler thread and the store of the previous load
                monitor_of(loaded.pop()).close()

        warm = interleaved(
            {
                "inner": lambda: mlflow.pyfunc.load_model(models.inner_uri),
                "monitored": load_monitored,
            },
            runs_warm,
            before=close_loaded,
        )
        close_loaded()
        cold: dict[str, list[float]] = {"inner": [], "monitored": []}
        for _ in range(runs_cold):
            cold["inner"].append(cold_load(models.inner_uri))
            cold["monitored"].append(cold_load(models.monitored_uri))
        status_rows = status_times(models.monitored_uri, runs_status)
    for label, values, runs in (("warm", warm, runs_warm), ("cold", cold, runs_cold)):
        inner, monitored = median(values["inner"]), median(values["monitored"])
        rows.append(
            [
                f"{label} ({runs} each)",
                f"{inner:.3f} s",
                f"{monitored:.3f} s",
                f"+{monitored - inner:.3f} s (**{monitored / inner:.2f}x**)",
                "< 1.20x",
            ]
        )
    return rows, status_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each process")
    parser.add_argument("--loads", type=int, default=10, help="warm loads of each model")
    parser.add_argument("--cold-loads", type=int, default=3, help="cold loads of each model")
    parser.add_argument("--status-runs", type=int, default=5, help="runs of each status way")
    args = parser.parse_args()

    os.chdir(REPO)
    load_before = load_average()
    started = time.perf_counter()
    process_rows = process_times(args.runs)
    heavy = heavy_imports()
    load_rows, status_rows = load_times(args.loads, args.cold_loads, args.status_runs)

    print("# Start-up\n")
    for line in machine_summary(torch_line=False):
        print(f"- {line}")
    print(
        f"- 1-min load average: {load_before:.2f} before, {load_average():.2f} after "
        f"({time.perf_counter() - started:.0f} s)\n"
    )
    print(f"## Fresh processes (median of {args.runs}, interleaved)\n")
    print(table(["command", "wall time", "vs python -c pass", "target"], process_rows))
    print(
        "\nHeavy packages imported by `import mlflow_monitor`: "
        f"{', '.join(heavy) if heavy else 'none'} (checked: {', '.join(HEAVY)})"
    )
    print("\n## mlflow.pyfunc.load_model: inner model vs. monitored model (median)\n")
    header = ["load", "inner (models:/reviews/1)", "monitored", "added", "target"]
    print(table(header, load_rows))
    print(f"\n## Status of a monitored model, fresh processes (median of {args.status_runs})\n")
    print(table(["command", "wall time", "vs status"], status_rows))


if __name__ == "__main__":
    main()
