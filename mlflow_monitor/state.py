"""Saving and loading monitor state: one ``.npz`` file, no pickle, written atomically.

The file is a numpy ``.npz`` archive holding numeric arrays and one JSON document
(``__meta__``). Loading uses ``allow_pickle=False``, so a state file can never run code. A
SHA-256 digest over every member detects truncation and tampering. Writes go to a temporary
file in the same directory, are fsynced, then renamed over the target, so a crash leaves
either the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlflow_monitor.exceptions import MonitorError, StateError
from mlflow_monitor.memory_store import InMemoryStore
from mlflow_monitor.performance import as_label, validate_baseline
from mlflow_monitor.results import CheckResult, utcnow
from mlflow_monitor.store import PredictionRecord
from mlflow_monitor.triggers import TriggerEvent

if TYPE_CHECKING:
    from mlflow_monitor.drift import DriftDetector
    from mlflow_monitor.monitor import ModelMonitor

__all__ = [
    "STATE_FORMAT",
    "STATE_VERSION",
    "load_monitor",
    "load_monitor_state",
    "read_state",
    "save_monitor_state",
    "write_state",
]

logger = logging.getLogger(__name__)

STATE_FORMAT = "mlflow-monitor-state"
STATE_VERSION = 1
_META = "__meta__"
_DIGEST = "__digest__"


def _digest(members: dict[str, np.ndarray[Any, Any]]) -> str:
    sha = hashlib.sha256()
    for name in sorted(members):
        array = np.ascontiguousarray(members[name])
        sha.update(name.encode())
        sha.update(str(array.dtype).encode())
        sha.update(str(array.shape).encode())
        sha.update(array.tobytes())
    return sha.hexdigest()


def write_state(path: str | os.PathLike[str], meta: dict[str, Any], arrays: dict[str, Any]) -> Path:
    """Write ``meta`` (JSON-serialisable) and numeric ``arrays`` to ``path`` atomically.

    Returns:
        The path written.

    Raises:
        StateError: the directory does not exist, or an array is not numeric.
    """
    target = Path(path)
    if not target.parent.exists():
        raise StateError(f"cannot save state to {str(target)!r}: directory does not exist")
    document = {"format": STATE_FORMAT, "version": STATE_VERSION, **meta}
    members: dict[str, np.ndarray[Any, Any]] = {
        _META: np.frombuffer(json.dumps(document).encode(), dtype=np.uint8)
    }
    for name, value in arrays.items():
        array = np.asarray(value)
        if array.dtype == object:
            raise StateError(f"state array {name!r} is not numeric (dtype object)")
        members[name] = array
    members[_DIGEST] = np.frombuffer(_digest(members).encode(), dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **members)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


def read_state(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a state file written by :func:`write_state`.

    Returns:
        ``(meta, arrays)``.

    Raises:
        StateError: the file is missing, not a state file, truncated, tampered with, holds
            pickled objects, or was written by a newer version.
    """
    source = Path(path)
    if not source.is_file():
        raise StateError(f"state file {str(source)!r} does not exist")
    try:
        # np.load is given an open handle: on a corrupt archive it would leak its own.
        with source.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
            members = {name: archive[name] for name in archive.files}
    except ValueError as exc:
        raise StateError(
            f"state file {str(source)!r} holds pickled objects, which are never loaded: {exc}"
        ) from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise StateError(
            f"state file {str(source)!r} is corrupt or not a state file: {exc}"
        ) from exc
    digest = members.pop(_DIGEST, None)
    if _META not in members or digest is None:
        raise StateError(f"state file {str(source)!r} is not an mlflow-monitor state file")
    if bytes(digest.astype(np.uint8)).decode(errors="replace") != _digest(members):
        raise StateError(f"state file {str(source)!r} failed its integrity check (modified?)")
    try:
        meta = json.loads(bytes(members.pop(_META).astype(np.uint8)).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateError(f"state file {str(source)!r} has unreadable metadata: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != STATE_FORMAT:
        raise StateError(f"state file {str(source)!r} is not an mlflow-monitor state file")
    version = meta.get("version")
    if not isinstance(version, int) or version > STATE_VERSION:
        raise StateError(
            f"state file {str(source)!r} has format version {version!r}; this mlflow-monitor "
            f"reads versions up to {STATE_VERSION}"
        )
    return meta, members


def save_monitor_state(monitor: ModelMonitor, path: str | os.PathLike[str]) -> Path:
    """Write everything :func:`load_monitor_state` needs to rebuild ``monitor``'s state.

    The contents of an :class:`~mlflow_monitor.store.InMemoryStore` are saved; any other
    store keeps its own contents, so only the rest of the state is.
    """
    arrays: dict[str, Any] = {}
    detector_state = None
    if monitor.drift_detector is not None:
        params, detector_arrays = monitor.drift_detector.get_state()
        detector_state = params
        arrays.update(detector_arrays)
    store = monitor.store if isinstance(monitor.store, InMemoryStore) else None
    window = store.peek_features() if store is not None else []
    raw_window: list[Any] | None = None
    if window and monitor.drift_detector is not None and monitor.drift_detector.preprocess_fn:
        raw_window = window
    elif window:
        arrays["window"] = np.vstack(window)
    tracker = monitor.performance_tracker
    counters = {}
    if monitor.prometheus_metrics is not None:
        for suffix in ("predictions", "feedback", "retraining_triggered"):
            counters[suffix] = monitor.prometheus_metrics.value(suffix)
    with monitor._counts_lock:
        counts = dict(monitor._counts)
    meta = {
        "saved_at": utcnow().isoformat(),
        "config": monitor.config.to_dict(),
        "counts": counts,
        "counters": counters,
        "drift": detector_state,
        "raw_window": raw_window,
        "performance": None
        if tracker is None
        else {
            "baseline": tracker.baseline_,
            "window": [list(p) for p in store.labelled_window(tracker.window_size)]
            if store is not None
            else [],
        },
        "records": [r.to_list() for r in store.records()] if store is not None else [],
        "triggers": monitor.triggers.get_state(),
        "last_checks": {kind: result.to_dict() for kind, result in monitor._last.items()},
    }
    try:
        return write_state(path, meta, arrays)
    except TypeError as exc:
        raise StateError(f"monitor state is not JSON-serialisable: {exc}") from exc


def load_monitor_state(monitor: ModelMonitor, path: str | os.PathLike[str]) -> None:
    """Restore state written by :func:`save_monitor_state` into ``monitor``.

    Everything is parsed before anything is changed, so a bad file leaves the monitor as it
    was. Saved store contents go into an :class:`~mlflow_monitor.store.InMemoryStore` only;
    any other store keeps its own.
    """
    meta, arrays = read_state(path)
    try:
        records = [PredictionRecord.from_list(list(row)) for row in meta["records"]]
        last = {str(k): CheckResult.from_dict(v) for k, v in meta["last_checks"].items()}
        counts = {str(k): int(v) for k, v in meta["counts"].items()}
        counters = {str(k): float(v) for k, v in meta.get("counters", {}).items()}
        performance = meta.get("performance")
        raw_window = meta.get("raw_window")
        window = list(arrays["window"]) if "window" in arrays else list(raw_window or [])
        drift = meta.get("drift")
        detector = monitor.drift_detector
        if drift is not None and monitor.config.enable_drift_detection:
            detector = _fresh_detector(monitor, drift)
            detector.set_state(drift, arrays)
        tracker = monitor.performance_tracker
        pairs: list[tuple[Any, Any]] = []
        baseline: dict[str, float] = {}
        if tracker is not None and performance is not None:
            pairs = [
                (as_label(p, "saved prediction"), as_label(t, "saved label"))
                for p, t in performance["window"]
            ]
            baseline = validate_baseline(performance["baseline"]) if performance["baseline"] else {}
        triggers = meta["triggers"]
        [TriggerEvent.from_dict(event) for event in triggers["history"]]  # validate first
    except MonitorError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateError(f"state file {str(path)!r} has unexpected content: {exc!r}") from exc
    monitor.drift_detector = detector
    if tracker is not None and performance is not None:
        tracker.clear()
        tracker.baseline_ = baseline
        tracker.update_many(pairs)
    if isinstance(monitor.store, InMemoryStore):
        monitor.store.load(records, window, pairs if performance is not None else None)
    elif records or window:
        logger.info(
            "saved predictions and drift rows are not loaded into %r, which keeps its own",
            monitor.store,
        )
    with monitor._counts_lock:
        monitor._counts.update(counts)
    if monitor.prometheus_metrics is not None:
        monitor.prometheus_metrics.restore_counters(counters)
    monitor.triggers.set_state(triggers)
    monitor._last = last


def _fresh_detector(monitor: ModelMonitor, saved: dict[str, Any]) -> DriftDetector:
    """A new detector with the monitor's detector settings (or the saved ones)."""
    from mlflow_monitor.drift import DriftDetector

    current = monitor.drift_detector
    if current is not None:
        return DriftDetector(
            p_val=current.p_val,
            preprocess_fn=current.preprocess_fn,
            n_permutations=current.n_permutations,
            backend=current.backend,
            update_ref=current.update_ref,
            feature_correction=current.feature_correction,
            random_seed=current.random_seed,
            dtype=current.dtype,
        )
    if saved.get("has_preprocess_fn"):
        raise StateError(
            "this state was saved by a DriftDetector with a preprocess_fn, which a state file "
            "cannot hold (it holds no code): build the monitor with the same "
            "DriftDetector(preprocess_fn=...) and call monitor.load_state(path)"
        )
    return DriftDetector(
        p_val=float(saved["p_val"]),
        n_permutations=int(saved["n_permutations"]),
        backend=str(saved["backend"]),
        update_ref=saved.get("update_ref"),
        feature_correction=str(saved["feature_correction"]),
        random_seed=monitor.config.random_seed,
        dtype=str(saved.get("dtype", "float64")),
    )


def load_monitor(path: str | os.PathLike[str], **overrides: Any) -> ModelMonitor:
    """Build a monitor with the config saved in ``path`` and restore its state.

    Args:
        path: a file written by :meth:`ModelMonitor.save_state`.
        **overrides: config options to change (e.g. ``retraining_callback=fn``, which is
            never saved).

    Returns:
        The restored monitor (not started).

    Raises:
        StateError: the file is missing, corrupt or not a state file.
        ConfigError: an override is invalid.
    """
    from mlflow_monitor.monitor import ModelMonitor

    meta, _ = read_state(path)
    saved = dict(meta.get("config") or {})
    saved.pop("retraining_callback", None)
    monitor = ModelMonitor({**saved, **overrides})
    load_monitor_state(monitor, path)
    return monitor
