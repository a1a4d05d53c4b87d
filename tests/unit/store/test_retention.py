"""Retention: with ``store_retention_days`` the leader deletes old predictions in the
background, writers go on meanwhile, and the SQLite file stops growing over a long run.

Issue #16 ("Retention"); see docs/reliability.md.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from mlflow_monitor import ConfigError, create_monitor
from mlflow_monitor.store.interface import PredictionBatch
from tests.support.streams import stored_predictions

DAY = 86400.0
START = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def _batch(rng: np.random.Generator, tag: str, n: int, timestamp: float) -> PredictionBatch:
    return PredictionBatch(
        [f"{tag}-{i}" for i in range(n)],
        rng.integers(0, 2, n),
        rng.random(n),
        None,
        rng.normal(size=(n, 8)),
        timestamp=timestamp,
    )


def _disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def test_disk_use_stays_bounded_over_a_long_seeded_run(tmp_path):
    rng = np.random.default_rng(16)
    database = tmp_path / "inference.db"
    clock = Clock()
    monitor = create_monitor(
        {
            "store_uri": f"sqlite:///{database}",
            "store_retention_days": 7,
            "enable_prometheus": False,
            "model_name": "retained",
        },
        clock=clock,
    )
    per_day, days = 1500, 60
    sizes = []
    try:
        for day in range(days):
            clock.now = START + timedelta(days=day)
            for hour in range(3):  # three bursts a day
                stamp = clock.now.timestamp() + hour * 3600
                monitor.store.add(_batch(rng, f"d{day}h{hour}", per_day // 3, stamp))
            assert monitor.store.flush(60)
            monitor.prune()  # what the leader's job does every hour
            sizes.append(_disk(database))
        held = monitor.store.counts().predictions
    finally:
        monitor.close()
    # Exactly the last 7 days (plus today) are kept ...
    assert held == 8 * per_day
    rows = stored_predictions(f"sqlite:///{database}", "retained", "0")
    assert min(r.timestamp for r in rows) >= (START + timedelta(days=days - 8)).timestamp()
    # ... and the file stops growing once the retention window is full: deleted pages are
    # reused (measured: 5.8 MiB on day 15, 6.1 MiB on day 60; without pruning 6.3 and 15.4).
    settled = max(sizes[14:20])
    assert sizes[-1] <= 1.3 * settled, [s // 1024 for s in sizes[::5]]


def test_the_leader_prunes_in_the_background_while_writers_go_on(tmp_path):
    rng = np.random.default_rng(3)
    database = tmp_path / "inference.db"
    keep_seconds = 4.0
    monitor = create_monitor(
        {
            "store_uri": f"sqlite:///{database}",
            "store_retention_days": keep_seconds / DAY,
            "store_flush_seconds": 0.1,
            "enable_prometheus": False,
            "enable_drift_detection": False,
            "enable_performance_tracking": False,
        }
    )
    try:
        monitor.store.add(_batch(rng, "old", 5000, time.time() - 10 * DAY))
        assert monitor.store.flush(30)
        monitor.start_monitoring()  # the retention job runs every keep_seconds / 4
        deadline = time.monotonic() + 60
        written = 0
        while monitor.store.counts().predictions > written:
            monitor.store.add(_batch(rng, f"new{written}", 50, time.time()))
            written += 50
            assert time.monotonic() < deadline, "the old rows were never pruned"
            time.sleep(0.05)
        assert monitor.store.flush(30)
        ids = {r.prediction_id for r in stored_predictions(f"sqlite:///{database}", "default")}
        assert not any(pid.startswith("old-") for pid in ids)
        assert monitor.store.counts().dropped == 0
    finally:
        monitor.close()


@pytest.mark.parametrize("days", [0, -1, float("inf"), float("nan"), "7"], ids=str)
def test_bad_retention_is_a_config_error(days):
    with pytest.raises(ConfigError, match="store_retention_days"):
        create_monitor({"store_retention_days": days})


def test_retention_can_be_turned_off(tmp_path):
    monitor = create_monitor(
        {"store_uri": f"sqlite:///{tmp_path}/i.db", "store_retention_days": None}
    )
    try:
        monitor.store.add(_batch(np.random.default_rng(1), "old", 10, time.time() - 400 * DAY))
        assert monitor.prune() == 0
        assert monitor.prune(older_than_days=30) == 10  # by hand, any limit
    finally:
        monitor.close()
