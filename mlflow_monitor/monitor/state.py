"""Monitor state files: one ``.npz`` file, no pickle, written atomically.

A monitor's state is a :class:`MonitorSnapshot` (made by ``ModelMonitor.snapshot()`` and
applied by ``ModelMonitor.restore()``); this module turns one into a file and back.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_monitor._types import Label, as_label
from mlflow_monitor.drift.alarm import AlarmState
from mlflow_monitor.exceptions import MonitorError, StateError
from mlflow_monitor.performance import validate_baseline
from mlflow_monitor.results import CheckResult, utcnow
from mlflow_monitor.retraining.triggers import TriggerEvent
from mlflow_monitor.store import PredictionRecord

__all__ = [
    "STATE_FORMAT",
    "STATE_VERSION",
    "MonitorSnapshot",
    "read_snapshot",
    "read_state",
    "write_snapshot",
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


@dataclass(frozen=True)
class MonitorSnapshot:
    """Everything a monitor's state file holds, parsed and validated.

    Attributes:
        config: the monitor's options (``MonitorConfig.to_dict()``).
        counts: predictions and labels the monitor recorded.
        counters: Prometheus counter totals (``predictions``, ``feedback``,
            ``retraining_triggered``).
        drift: the drift detector's parameters (``DriftDetector.get_state()``), or None.
        drift_arrays: its arrays (the reference sample).
        baseline: the performance baseline, or None when performance tracking was off.
        labelled: the labelled window, ``(prediction, true_label)`` oldest first.
        records: predictions held by an in-memory store (awaiting feedback or labelled).
        window: drift rows waiting for the next check: numeric rows, or raw inputs.
        window_is_raw: the window holds raw inputs (for a detector with a ``preprocess_fn``).
        triggers: the trigger policy's state (``TriggerPolicy.get_state()``).
        last_checks: the latest check result of each kind.
        saved_at: when the state was saved (ISO 8601).
        alarm: the drift alarm policy's running evidence (``AlarmPolicy.get_state()``);
            None in files saved before the policy existed.
    """

    config: dict[str, Any]
    counts: dict[str, int]
    counters: dict[str, float]
    drift: dict[str, Any] | None
    drift_arrays: dict[str, Any]
    baseline: dict[str, float] | None
    labelled: list[tuple[Label, Label]]
    records: list[PredictionRecord]
    window: list[Any]
    window_is_raw: bool
    triggers: dict[str, Any]
    last_checks: dict[str, CheckResult]
    saved_at: str = field(default_factory=lambda: utcnow().isoformat())
    alarm: dict[str, Any] | None = None


def write_snapshot(path: str | os.PathLike[str], snapshot: MonitorSnapshot) -> Path:
    """Write ``snapshot`` to ``path`` atomically.

    Raises:
        StateError: the directory does not exist, or the snapshot holds a value that is not
            JSON-serialisable.
    """
    arrays: dict[str, Any] = dict(snapshot.drift_arrays)
    raw_window: list[Any] | None = None
    if snapshot.window and snapshot.window_is_raw:
        raw_window = snapshot.window
    elif snapshot.window:
        arrays["window"] = np.vstack(snapshot.window)
    meta = {
        "saved_at": snapshot.saved_at,
        "config": snapshot.config,
        "counts": snapshot.counts,
        "counters": snapshot.counters,
        "drift": snapshot.drift,
        "raw_window": raw_window,
        "performance": None
        if snapshot.baseline is None
        else {"baseline": snapshot.baseline, "window": [list(p) for p in snapshot.labelled]},
        "records": [r.to_list() for r in snapshot.records],
        "triggers": snapshot.triggers,
        "last_checks": {kind: result.to_dict() for kind, result in snapshot.last_checks.items()},
        "alarm": snapshot.alarm,
    }
    try:
        return write_state(path, meta, arrays)
    except TypeError as exc:
        raise StateError(f"monitor state is not JSON-serialisable: {exc}") from exc


def read_snapshot(path: str | os.PathLike[str]) -> MonitorSnapshot:
    """Read and validate a state file written by :func:`write_snapshot`.

    Raises:
        StateError: the file is missing, corrupt, tampered with, not a state file, or holds
            values of the wrong type.
    """
    meta, arrays = read_state(path)
    try:
        performance = meta.get("performance")
        raw_window = meta.get("raw_window")
        window = list(arrays.pop("window")) if "window" in arrays else list(raw_window or [])
        labelled: list[tuple[Label, Label]] = []
        baseline: dict[str, float] | None = None
        if performance is not None:
            labelled = [
                (as_label(p, "saved prediction"), as_label(t, "saved label"))
                for p, t in performance["window"]
            ]
            baseline = validate_baseline(performance["baseline"]) if performance["baseline"] else {}
        triggers = dict(meta["triggers"])
        [TriggerEvent.from_dict(event) for event in triggers["history"]]  # validate first
        return MonitorSnapshot(
            config=dict(meta.get("config") or {}),
            counts={str(k): int(v) for k, v in meta["counts"].items()},
            counters={str(k): float(v) for k, v in meta.get("counters", {}).items()},
            drift=meta.get("drift"),
            drift_arrays=arrays,
            baseline=baseline,
            labelled=labelled,
            records=[PredictionRecord.from_list(list(row)) for row in meta["records"]],
            window=window,
            window_is_raw=raw_window is not None,
            triggers=triggers,
            last_checks={str(k): CheckResult.from_dict(v) for k, v in meta["last_checks"].items()},
            saved_at=str(meta.get("saved_at", "")),
            alarm=AlarmState.from_dict(meta.get("alarm")).to_dict() if meta.get("alarm") else None,
        )
    except MonitorError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateError(f"state file {str(path)!r} has unexpected content: {exc!r}") from exc
