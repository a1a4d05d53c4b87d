"""Crafted state files: loading one restores monitoring data only, never where the monitor
connects or what it runs, and every malformed or oversized file is a StateError before it
costs memory. The digest has no key, so these files are forged with a valid digest.

Issue #16, defect 6; see docs/reliability.md.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from mlflow_monitor import StateError, create_monitor, load_monitor
from mlflow_monitor.monitor import state


@pytest.fixture
def saved(tmp_path, rng):
    monitor = create_monitor({"metrics_prefix": "forged", "drift_min_samples": 20})
    monitor.setup_drift_detection(rng.normal(size=(50, 2)))
    monitor.record_prediction(1, 0.8, features=[0.1, 0.2])
    path = tmp_path / "state.npz"
    monitor.save_state(path)
    return path


def _forge(path, meta_text: str, arrays: dict[str, np.ndarray]) -> None:
    """A state file with ``meta_text`` as its metadata and a digest that matches."""
    members = {"__meta__": np.frombuffer(meta_text.encode(), dtype=np.uint8), **arrays}
    members["__digest__"] = np.frombuffer(state._digest(members).encode(), dtype=np.uint8)
    with path.open("wb") as handle:
        np.savez(handle, **members)


def _meta_and_arrays(path) -> tuple[dict, dict]:
    with np.load(path, allow_pickle=False) as archive:
        members = {name: archive[name] for name in archive.files}
    members.pop("__digest__")
    return json.loads(bytes(members.pop("__meta__")).decode()), members


def test_saved_uris_and_launch_settings_are_never_taken_from_the_file(saved, tmp_path):
    meta, arrays = _meta_and_arrays(saved)
    chosen = tmp_path / "attacker" / "chosen.db"
    chosen.parent.mkdir()
    meta["config"].update(
        store_uri=f"sqlite:///{chosen}",
        retrain_project_uri=str(tmp_path / "evil-project"),
        retrain_entry_point="pwn",
        retrain_parameters={"cmd": "touch pwned"},
        tracking_uri=f"sqlite:///{tmp_path}/attacker/mlflow.db",
        log_checks=True,
    )
    _forge(saved, json.dumps(meta), arrays)
    monitor = load_monitor(saved)
    try:
        config = monitor.config
        assert config.store_uri is None and config.retrain_project_uri is None
        assert config.tracking_uri is None and not config.log_checks
        assert config.retrain_parameters == {} and config.retrain_entry_point == "retrain"
        assert config.metrics_prefix == "forged"  # monitoring settings are restored
        assert monitor.get_monitoring_status()["counts"]["predictions"] == 1
        monitor.trigger_retraining("manual")  # no project is launched: none is configured
        assert not chosen.exists()
        assert sorted(p.name for p in chosen.parent.iterdir()) == []
    finally:
        monitor.close()


def test_connections_are_taken_only_when_trusted(saved, tmp_path):
    meta, arrays = _meta_and_arrays(saved)
    meta["config"]["store_uri"] = f"sqlite:///{tmp_path}/mine.db"
    _forge(saved, json.dumps(meta), arrays)
    monitor = load_monitor(saved, trust_connections=True)
    try:
        assert monitor.config.store_uri == f"sqlite:///{tmp_path}/mine.db"
    finally:
        monitor.close()


def _npy_header(shape: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f8", "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def test_an_array_declaring_a_huge_shape_is_refused_before_allocating(saved):
    with zipfile.ZipFile(saved, "a") as archive:
        archive.writestr("huge.npy", _npy_header((10**12,)) + b"\0" * 64)
    with pytest.raises(StateError, match="declares shape"):
        create_monitor().load_state(saved)


def test_a_zip_bomb_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "bomb.npz"
    n = state.MAX_STATE_BYTES // 8 + 1024
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("x.npy", "w", force_zip64=True) as member,
    ):
        member.write(_npy_header((n,)))
        chunk = b"\0" * (8 << 20)
        for _ in range(n * 8 // len(chunk) + 1):
            member.write(chunk)
    assert path.stat().st_size < 2 << 20  # a small file
    with pytest.raises(StateError, match="decompressed"):
        create_monitor().load_state(path)


@pytest.mark.parametrize(
    ("find", "replace"),
    [
        ('"counts": {"predictions": 1', '"counts": {"predictions": 1e400'),
        ('"counts": {"predictions": 1', '"counts": {"predictions": -1e400'),
        ('"saved_at": ', '"deep": ' + "[" * 100_000 + "]" * 100_000 + ', "saved_at": '),
        ('"counts": {', '"counts": {"x": [1, 2], '),
        ('"records": [', '"records": [[1], '),
    ],
    ids=["huge-count", "minus-huge-count", "deep-nesting", "list-count", "short-record"],
)
def test_malformed_metadata_is_a_state_error(saved, find, replace):
    meta, arrays = _meta_and_arrays(saved)
    text = json.dumps(meta)
    assert find in text
    _forge(saved, text.replace(find, replace, 1), arrays)
    monitor = create_monitor()
    before = monitor.get_monitoring_status()["counts"]
    with pytest.raises(StateError):
        monitor.load_state(saved)
    assert monitor.get_monitoring_status()["counts"] == before
