"""Leadership of the scheduled checks in one process: a lease that expires, the sole
leadership of a private store, advisory lock keys. Stores, processes and monitors sharing
a database (SQLite and PostgreSQL): tests/integration/store/test_leadership.py.
"""

from __future__ import annotations

import pytest

from mlflow_monitor import ModelMonitor
from mlflow_monitor.store.memory import InMemoryStore
from mlflow_monitor.store.sql.leadership import (
    LeaseLeadership,
    advisory_lock_key,
)
from mlflow_monitor.store.sql.store import SqlInferenceStore

NAME = "checks:reviews/3"


def test_an_expired_lease_is_taken_over_and_its_holder_told(tmp_path):
    store = SqlInferenceStore(f"sqlite:///{tmp_path}/inference.db")
    now = [1000.0]
    first = LeaseLeadership(store.engine, NAME, ttl=10, clock=lambda: now[0])
    second = LeaseLeadership(store.engine, NAME, ttl=10, clock=lambda: now[0])
    assert first.try_acquire()
    now[0] += 9
    assert not second.try_acquire()
    assert first.renew()  # expires at 1019 now
    now[0] += 9.5
    assert not second.try_acquire()
    now[0] += 1  # the leader missed its renewal
    assert second.try_acquire()
    assert not first.renew() and not first.is_leader
    assert not first.try_acquire()
    store.close()


def test_a_lease_is_refused_without_a_positive_ttl(tmp_path):
    store = SqlInferenceStore(f"sqlite:///{tmp_path}/inference.db")
    with pytest.raises(ValueError, match="ttl must be positive"):
        LeaseLeadership(store.engine, NAME, ttl=0)
    store.close()


def test_sole_leadership_is_granted_on_asking():
    leadership = InMemoryStore().leadership(NAME)
    assert not leadership.is_leader and not leadership.renew()
    assert leadership.try_acquire() and leadership.renew()
    leadership.release()
    assert not leadership.is_leader


def test_advisory_lock_keys_are_stable_signed_64_bit():
    key = advisory_lock_key(NAME)
    assert key == advisory_lock_key(NAME) != advisory_lock_key("checks:reviews/4")
    assert -(2**63) <= key < 2**63


def test_a_monitor_of_a_private_store_always_leads():
    monitor = ModelMonitor({"enable_drift_detection": False})
    assert monitor.get_monitoring_status()["leader"] is False  # not monitoring
    monitor.start_monitoring()
    assert monitor.get_monitoring_status()["leader"] is True
    monitor.stop_monitoring()
    assert monitor.is_leader is False
