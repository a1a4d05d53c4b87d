from __future__ import annotations

import inspect
import subprocess
import sys

import mlflow_monitor

SEED_API = ["create_monitor", "ModelMonitor", "DriftDetector", "PerformanceTracker"]


def test_all_lists_exactly_the_exported_names():
    names = {n for n in dir(mlflow_monitor) if not n.startswith("_")} - {"annotations"}
    # submodules become attributes once imported anywhere; they are not exports
    exported = {n for n in names if not inspect.ismodule(getattr(mlflow_monitor, n))}
    lazy = set(mlflow_monitor._LAZY)  # loaded on first use, to keep the import light
    assert set(mlflow_monitor.__all__) - {"__version__"} == exported | lazy
    for name in mlflow_monitor.__all__:
        assert getattr(mlflow_monitor, name) is not None
    for name in SEED_API:
        assert name in mlflow_monitor.__all__


def test_every_error_derives_from_monitor_error():
    errors = [getattr(mlflow_monitor, n) for n in mlflow_monitor.__all__ if n.endswith("Error")]
    assert len(errors) >= 7
    for error in errors:
        assert issubclass(error, mlflow_monitor.MonitorError)


def test_import_does_not_pull_heavy_or_optional_packages():
    code = (
        "import sys, mlflow_monitor;"
        "heavy = [m for m in ('mlflow', 'sklearn', 'scipy', 'torch', 'alibi_detect', 'pandas',"
        " 'sqlalchemy', 'matplotlib')"
        " if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
