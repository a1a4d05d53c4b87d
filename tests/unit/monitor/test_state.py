from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from mlflow_monitor import StateError, create_monitor, load_monitor
from mlflow_monitor.monitor.state import read_state, write_state


@pytest.fixture
def busy_monitor(rng, clock):
    monitor = create_monitor(
        {
            "drift_min_samples": 20,
            "performance_min_samples": 5,
            "random_seed": 1,
            "metrics_prefix": "saved",
        },
        clock=clock,
    )
    monitor.setup_drift_detection(rng.normal(size=(200, 3)))
    monitor.setup_performance_baseline({"precision": 0.9, "recall": 0.9})
    ids = [
        monitor.record_prediction(i % 2, 0.7, features=rng.normal(size=3) + 2) for i in range(40)
    ]
    for pid in ids[:30]:
        monitor.record_feedback(pid, 1)
    monitor.check_drift()  # consumes the 40 rows, fires a drift trigger
    monitor.check_performance()
    for _ in range(7):
        monitor.record_prediction(1, 0.6, features=rng.normal(size=3))  # pending drift rows
    monitor.trigger_retraining("manual", {"triggered_by": "test"})
    return monitor, ids


def test_round_trip_restores_everything(busy_monitor, tmp_path):
    monitor, ids = busy_monitor
    path = tmp_path / "state.npz"
    monitor.save_state(path)
    restored = create_monitor(
        {"metrics_prefix": "saved", "drift_min_samples": 20, "performance_min_samples": 5}
    )
    restored.load_state(path)

    before, after = monitor.get_monitoring_status(), restored.get_monitoring_status()
    for key in ("counts", "drift_detected", "performance_degraded", "triggers"):
        assert after[key] == before[key], key
    assert after["performance"]["baseline"] == {"precision": 0.9, "recall": 0.9}
    assert after["performance"]["current"]["n_samples"] == 30
    assert after["drift"]["last_check"] == before["drift"]["last_check"]
    np.testing.assert_array_equal(
        restored.drift_detector.reference_, monitor.drift_detector.reference_
    )
    assert restored.drift_detector.sigma_ == monitor.drift_detector.sigma_
    assert restored.store.pending_features() == 7
    assert restored.prometheus_metrics.value("predictions") == 47
    assert restored.prometheus_metrics.value("retraining_triggered") == 3
    # feedback for a prediction made before the save still joins after the load
    restored.record_feedback(ids[35], 1)
    assert restored.get_monitoring_status()["counts"]["feedback"] == 31


def test_load_monitor_rebuilds_from_the_saved_config(busy_monitor, tmp_path):
    monitor, _ = busy_monitor
    monitor.save_state(tmp_path / "s.npz")
    restored = load_monitor(tmp_path / "s.npz")
    assert restored.config.metrics_prefix == "saved"
    assert restored.config.drift_min_samples == 20
    assert restored.get_monitoring_status()["counts"]["predictions"] == 47


def test_cooldown_survives_a_restart(busy_monitor, tmp_path, clock):
    monitor, _ = busy_monitor
    monitor.save_state(tmp_path / "s.npz")
    restored = create_monitor(clock=clock)
    restored.load_state(tmp_path / "s.npz")
    assert not restored.triggers.fire("data_drift").fired


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "state.npz"
    write_state(path, {"a": 1}, {"x": np.arange(3)})

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        write_state(path, {"a": 2}, {"x": np.arange(5)})
    meta, arrays = read_state(path)  # the old file is intact
    assert meta["a"] == 1 and arrays["x"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["state.npz"]


def test_missing_file(tmp_path):
    with pytest.raises(StateError, match="does not exist"):
        create_monitor().load_state(tmp_path / "nope.npz")


def test_truncated_file_is_refused_and_changes_nothing(busy_monitor, tmp_path):
    monitor, _ = busy_monitor
    path = tmp_path / "s.npz"
    monitor.save_state(path)
    path.write_bytes(path.read_bytes()[:-200])
    before = monitor.get_monitoring_status()["counts"]
    with pytest.raises(StateError, match="corrupt"):
        monitor.load_state(path)
    assert monitor.get_monitoring_status()["counts"] == before


def test_tampered_file_fails_the_integrity_check(tmp_path):
    path = tmp_path / "s.npz"
    write_state(path, {"a": 1}, {"x": np.arange(3)})
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    buffer = io.BytesIO()
    np.save(buffer, np.arange(3) + 1)
    members["x.npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(StateError, match="integrity"):
        read_state(path)


def test_pickle_payload_is_never_loaded(tmp_path):
    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.npz"
    np.savez(
        path, __meta__=np.frombuffer(b"{}", dtype=np.uint8), x=np.array([Boom()], dtype=object)
    )
    with pytest.raises(StateError, match="pickled objects, which are never loaded"):
        read_state(path)
    plain_pickle = tmp_path / "state.pkl"
    plain_pickle.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(StateError, match="pickled objects"):
        read_state(plain_pickle)


def test_foreign_npz_and_future_versions_are_refused(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.arange(3))
    with pytest.raises(StateError, match="not an mlflow-monitor state file"):
        read_state(foreign)
    future = tmp_path / "future.npz"
    write_state(future, {}, {})
    meta, _ = read_state(future)
    assert meta["version"] == 1
    from mlflow_monitor.monitor import state

    original = state.STATE_VERSION
    state.STATE_VERSION = 99
    try:
        write_state(future, {}, {})
    finally:
        state.STATE_VERSION = original
    with pytest.raises(StateError, match="format version 99"):
        read_state(future)


def test_unexpected_content_is_a_state_error(tmp_path):
    path = tmp_path / "s.npz"
    write_state(path, {"records": "nonsense"}, {})
    with pytest.raises(StateError, match="unexpected content"):
        create_monitor().load_state(path)


def test_saved_metadata_is_plain_json(busy_monitor, tmp_path):
    monitor, _ = busy_monitor
    monitor.save_state(tmp_path / "s.npz")
    with np.load(tmp_path / "s.npz", allow_pickle=False) as archive:
        meta = json.loads(bytes(archive["__meta__"]).decode())
    assert meta["format"] == "mlflow-monitor-state"
    assert meta["config"]["metrics_prefix"] == "saved"


def test_raw_windows_of_preprocessing_detectors_are_saved(tmp_path):
    from mlflow_monitor import DriftDetector

    def lengths(texts):
        return np.array([[len(t)] for t in texts], dtype=float)

    monitor = create_monitor()
    monitor.setup_drift_detection(["a", "bb", "ccc"], DriftDetector(preprocess_fn=lengths))
    monitor.record_prediction(1, 0.5, features="hello")
    monitor.save_state(tmp_path / "s.npz")
    restored = create_monitor()
    restored.setup_drift_detection(["x", "y"], DriftDetector(preprocess_fn=lengths))
    restored.load_state(tmp_path / "s.npz")
    assert restored.store.peek_features() == ["hello"]
    assert restored.drift_detector.preprocess_fn is lengths
    assert restored.drift_detector.reference_.ravel().tolist() == [1.0, 2.0, 3.0]


def test_a_database_store_keeps_its_own_contents(tmp_path, rng):
    options = {"store_uri": f"sqlite:///{tmp_path}/inference.db", "performance_min_samples": 5}
    monitor = create_monitor(options)
    monitor.setup_drift_detection(rng.normal(size=(50, 2)))
    monitor.setup_performance_baseline({"accuracy": 0.9})
    ids = monitor.record_predictions([1] * 10, features=rng.normal(size=(10, 2)))
    for pid in ids[:6]:
        monitor.record_feedback(pid, 1)
    monitor.save_state(tmp_path / "s.npz")
    meta, arrays = read_state(tmp_path / "s.npz")
    assert meta["records"] == [] and "window" not in arrays
    assert meta["performance"] == {"baseline": {"accuracy": 0.9}, "window": []}
    monitor.close()

    restored = load_monitor(tmp_path / "s.npz", store_uri=options["store_uri"])
    status = restored.get_monitoring_status()
    assert status["counts"]["predictions"] == 10  # this process's counters, from the file
    assert status["counts"]["pending_drift_rows"] == 10  # the rows, from the database
    assert status["performance"]["current"]["n_samples"] == 6
    restored.record_feedback(ids[7], 0)
    assert restored.check_performance().performance.n_samples == 7
    restored.close()


def test_in_memory_contents_are_not_pushed_into_a_database_store(busy_monitor, tmp_path):
    monitor, _ = busy_monitor
    monitor.save_state(tmp_path / "s.npz")
    restored = create_monitor({"store_uri": f"sqlite:///{tmp_path}/inference.db"})
    restored.load_state(tmp_path / "s.npz")
    assert restored.get_monitoring_status()["store"]["predictions"] == 0
    assert restored.get_monitoring_status()["counts"]["predictions"] == 47
    restored.close()


def test_load_monitor_says_how_to_restore_a_preprocessing_detector(tmp_path):
    from mlflow_monitor import DriftDetector

    def lengths(texts):
        return np.array([[len(t)] for t in texts], dtype=float)

    monitor = create_monitor({"drift_dtype": "float32"})
    monitor.setup_drift_detection(["a", "bb", "ccc"], DriftDetector(preprocess_fn=lengths))
    monitor.save_state(tmp_path / "s.npz")
    with pytest.raises(StateError, match=r"preprocess_fn.*load_state"):
        load_monitor(tmp_path / "s.npz")


def test_load_monitor_keeps_the_saved_precision(tmp_path, rng):
    monitor = create_monitor({"drift_dtype": "float32"})
    monitor.setup_drift_detection(rng.normal(size=(50, 2)))
    monitor.save_state(tmp_path / "s.npz")
    assert load_monitor(tmp_path / "s.npz").drift_detector.dtype == "float32"
