"""Where things are in the repository, and loading a script there as a module.

Scripts under ``examples/`` and ``benchmarks/`` are not a package: they are loaded from their
file, so no test edits ``sys.path``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["BENCHMARKS", "DATA", "EXAMPLES", "REPO", "load_script"]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
BENCHMARKS = REPO / "benchmarks"
DATA = REPO / "tests" / "data"


def load_script(path: Path) -> ModuleType:
    """The module of the script at ``path``, named after its file (loaded once)."""
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "")).resolve() == path.resolve():
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle look a class's module up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
