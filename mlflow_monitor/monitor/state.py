"""Monitor state files: one ``.npz`` file, no pickle, written atomically.

A monitor's state is a :class:`MonitorSnapshot` (made by ``ModelMonitor.snapshot()`` and
applied by ``ModelMonitor.restore()``); this module turns one into a file and back.

The file is a numpy ``.npz`` archive holding numeric arrays and one JSON document
(``__meta__``). Loading uses ``allow_pickle=False``, so a state file can never run code. A
SHA-256 digest over every member detects truncation and accidental damage; it has no key, so
it does not tell a forged file from a real one. Loading never trusts a file more than that: the
sizes the archive and its arrays declare are checked against :data:`MAX_STATE_BYTES` before
anything is decompressed or allocated, and every failure (a zip bomb, an absurd array shape,
numbers beyond float range, deeply nested JSON) is a :class:`StateError`; a snapshot holds
monitoring data only, and ``load_monitor`` never takes the saved options that connect the
monitor or launch a run (see :data:`mlflow_monitor.config.CONNECTION_OPTIONS`). Writes go to
a temporary file in the same directory, are fsynced, then renamed over the target, so a crash
leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_monitor._types import Label, as_label, as_target
from mlflow_monitor.exceptions import MonitorError, StateError
from mlflow_monitor.performance import validate_baseline
from mlflow_monitor.results import CheckResult, utcnow
from mlflow_monitor.retraining.triggers import TriggerEvent
from mlflow_monitor.store import PredictionRecord

__all__ = [
    "MAX_STATE_BYTES",
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
MAX_STATE_BYTES = 512 * 1024 * 1024
"""Most bytes a state file may hold once decompressed (its arrays and metadata together)."""
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


def _plain_json(value: Any) -> Any:
    """Raw input rows' values JSON cannot hold as they are: numpy scalars, dates and times
    (as ISO text, read back as text), pandas' missing values (as null)."""
    import datetime as dt

    if type(value).__name__ in ("NAType", "NaTType"):  # NaT is a datetime too
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


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
        _META: np.frombuffer(json.dumps(document, default=_plain_json).encode(), dtype=np.uint8)
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


def _check_sizes(handle: Any, source: Path, max_bytes: int) -> None:
    """Refuse an archive whose members, or the arrays they declare, exceed ``max_bytes``,
    reading only the zip directory and each array's header."""
    with zipfile.ZipFile(handle) as archive:
        total = 0
        for info in archive.infolist():
            total += info.file_size
            if total > max_bytes:
                raise StateError(
                    f"state file {str(source)!r} holds more than {max_bytes} bytes once "
                    f"decompressed (limit MAX_STATE_BYTES)"
                )
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)  # type: ignore[no-untyped-call]
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)  # type: ignore[no-untyped-call]
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)  # type: ignore[no-untyped-call]
            declared = math.prod(int(n) for n in shape) * dtype.itemsize
            if declared > info.file_size:
                raise StateError(
                    f"state file {str(source)!r}: array {info.filename!r} declares shape "
                    f"{shape} ({declared} bytes) but holds {info.file_size} bytes"
                )


def read_state(
    path: str | os.PathLike[str], max_bytes: int = MAX_STATE_BYTES
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a state file written by :func:`write_state`.

    Args:
        path: the file.
        max_bytes: most bytes it may hold once decompressed.

    Returns:
        ``(meta, arrays)``.

    Raises:
        StateError: the file is missing, not a state file, truncated, tampered with, holds
            pickled objects, is larger than ``max_bytes``, or was written by a newer version.
    """
    source = Path(path)
    if not source.is_file():
        raise StateError(f"state file {str(source)!r} does not exist")
    try:
        # np.load is given an open handle: on a corrupt archive it would leak its own.
        with source.open("rb") as handle:
            if zipfile.is_zipfile(handle):
                handle.seek(0)
                _check_sizes(handle, source, max_bytes)
            handle.seek(0)
            if handle.read(6) == b"\x93NUMPY":  # one bare array, not an archive
                raise StateError(f"state file {str(source)!r} is not an mlflow-monitor state file")
            handle.seek(0)
            with np.load(handle, allow_pickle=False) as archive:
                members = {name: archive[name] for name in archive.files}
    except StateError:
        raise
    except ValueError as exc:
        raise StateError(
            f"state file {str(source)!r} holds pickled objects, which are never loaded, or a "
            f"malformed array: {exc}"
        ) from exc
    except (OSError, zipfile.BadZipFile, EOFError, MemoryError, OverflowError, TypeError) as exc:
        raise StateError(
            f"state file {str(source)!r} is corrupt or not a state file: {exc!r}"
        ) from exc
    digest = members.pop(_DIGEST, None)
    if _META not in members or digest is None:
        raise StateError(f"state file {str(source)!r} is not an mlflow-monitor state file")
    if bytes(digest.astype(np.uint8)).decode(errors="replace") != _digest(members):
        raise StateError(f"state file {str(source)!r} failed its integrity check (modified?)")
    try:
        meta = json.loads(bytes(members.pop(_META).astype(np.uint8)).decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
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
            task = str((meta.get("config") or {}).get("task", "binary"))
            saved = as_target if task == "regression" else as_label
            labelled = [
                (saved(p, "saved prediction"), saved(t, "saved label"))
                for p, t in performance["window"]
            ]
            baseline = (
                validate_baseline(performance["baseline"], task) if performance["baseline"] else {}
            )
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
        )
    except MonitorError as exc:
        if isinstance(exc, StateError):
            raise
        raise StateError(f"state file {str(path)!r} has an invalid value: {exc}") from exc
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        IndexError,
        OverflowError,
        RecursionError,
        MemoryError,
    ) as exc:
        raise StateError(f"state file {str(path)!r} has unexpected content: {exc!r}") from exc
