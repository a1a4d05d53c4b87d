"""Leadership of the scheduled checks: one leader among stores, processes and monitors sharing
a database (a lease row on SQLite, an advisory lock on PostgreSQL), and takeover when it goes."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa

from mlflow_monitor import ModelMonitor
from mlflow_monitor.store.leadership import SoleLeadership
from mlflow_monitor.store.memory import InMemoryStore
from mlflow_monitor.store.sql.leadership import (
    AdvisoryLockLeadership,
    LeaseLeadership,
)
from mlflow_monitor.store.sql.store import SqlInferenceStore

BASELINE = {"precision": 0.9, "recall": 0.9, "accuracy": 0.9, "f1_score": 0.9}
NAME = "checks:reviews/3"


def eventually(condition, timeout=30.0):
    """Wait until ``condition()`` is true; False if it never was within ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_one_store_leads_until_it_releases(open_store):
    first, second = open_store().leadership(NAME), open_store().leadership(NAME)
    assert not first.is_leader
    assert first.try_acquire() and first.is_leader
    assert not second.try_acquire() and not second.is_leader
    assert first.try_acquire() and first.renew()  # the leader stays leader
    assert not second.renew()  # renewing never takes over
    first.release()
    assert not first.is_leader
    assert second.try_acquire()
    assert not first.try_acquire()


def test_names_are_led_independently(open_store):
    store = open_store()
    assert store.leadership("checks:reviews/3").try_acquire()
    assert store.leadership("checks:reviews/4").try_acquire()
    assert not open_store().leadership("checks:reviews/4").try_acquire()


def test_closing_a_store_releases_its_leaderships(open_store):
    first, second = open_store(), open_store()
    assert first.leadership(NAME).try_acquire()
    first.close()
    assert second.leadership(NAME).try_acquire()


def test_the_store_picks_the_leadership_of_its_database(uri, open_store):
    kind = AdvisoryLockLeadership if uri.startswith("postgresql") else LeaseLeadership
    assert isinstance(open_store().leadership(NAME), kind)
    assert isinstance(InMemoryStore().leadership(NAME), SoleLeadership)


# -- processes -----------------------------------------------------------------------------

CONTENDER = textwrap.dedent(
    """
    import sys, time
    from mlflow_monitor.store.sql.store import SqlInferenceStore

    store = SqlInferenceStore(sys.argv[1], "reviews", "3")
    leadership = store.leadership(sys.argv[2], ttl=float(sys.argv[3]))
    state = None
    while True:
        leader = leadership.try_acquire()
        if leader != state:
            print("leader" if leader else "follower", flush=True)
            state = leader
        time.sleep(0.05)
    """
)


def contender(uri, ttl=60.0):
    return subprocess.Popen(
        [sys.executable, "-c", CONTENDER, uri, NAME, str(ttl)],
        stdout=subprocess.PIPE,
        text=True,
    )


def expire_leases(uri):
    engine = sa.create_engine(uri)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE monitor_leases SET expires_at = 0"))
    engine.dispose()


def test_one_of_two_processes_leads_and_the_other_replaces_it_when_killed(uri):
    processes = [contender(uri), contender(uri)]
    try:
        states = [p.stdout.readline().strip() for p in processes]
        assert sorted(states) == ["follower", "leader"]
        leader = processes[states.index("leader")]
        follower = processes[states.index("follower")]
        os.kill(leader.pid, signal.SIGKILL)  # no release: the lock or lease is left behind
        leader.wait(30)
        if uri.startswith("sqlite"):  # PostgreSQL freed the lock with the connection
            expire_leases(uri)  # what 60 s do to a lease nobody renews
        assert follower.stdout.readline().strip() == "leader"
    finally:
        for p in processes:
            p.kill()
            p.wait(30)
            p.stdout.close()


SCHEDULED = textwrap.dedent(
    """
    import sys, time
    from mlflow_monitor.monitor.scheduler import LeaderSchedule, PeriodicJob
    from mlflow_monitor.store.sql.store import SqlInferenceStore

    store = SqlInferenceStore(sys.argv[1], "reviews", "3")
    # Checks once an hour: only the heartbeat renews the lease during this test.
    jobs = [PeriodicJob("hourly", 3600.0, lambda: None)]
    schedule = LeaderSchedule(store, jobs, lease_seconds=float(sys.argv[2]))
    schedule.start()
    state = None
    while True:
        if schedule.is_leader != state:
            state = schedule.is_leader
            print("leader" if state else "follower", flush=True)
        time.sleep(0.05)
    """
)


def test_a_killed_leaders_lease_is_taken_over_by_the_heartbeat_within_the_lease(uri):
    """Checks run hourly, the lease lasts 2 s: a SIGKILLed leader (no release) is replaced
    by the other process within about 2 s, not at the next hourly check."""
    lease = 2.0
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SCHEDULED, uri, str(lease)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        states = [p.stdout.readline().strip() for p in processes]
        assert sorted(states) == ["follower", "leader"]
        leader = processes[states.index("leader")]
        follower = processes[states.index("follower")]
        time.sleep(3 * lease)  # the heartbeat keeps the leader's lease past its first expiry
        os.kill(leader.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        leader.wait(30)
        ready, _, _ = select.select([follower.stdout], [], [], 10 * lease)
        assert ready, f"no takeover within {10 * lease} s"
        assert follower.stdout.readline().strip() == "leader"
        took = time.monotonic() - killed_at
        assert took < lease + lease / 3 + 2.0, f"took over after {took:.1f} s"
    finally:
        for p in processes:
            p.kill()
            p.wait(30)
            p.stdout.close()


def test_a_check_longer_than_the_lease_keeps_the_leadership(open_store):
    """The heartbeat renews the lease while the check thread is busy, so a slow check does
    not hand the stream to another process halfway."""
    import threading

    from mlflow_monitor.monitor.scheduler import LeaderSchedule, PeriodicJob

    busy, done = threading.Event(), threading.Event()

    def slow_check():
        busy.set()
        done.wait(10)

    lease = 1.0
    first = LeaderSchedule(open_store(), [PeriodicJob("slow", 0.1, slow_check)], lease)
    second = LeaderSchedule(open_store(), [PeriodicJob("other", 0.1, lambda: None)], lease)
    first.start()
    second.start()
    try:
        assert busy.wait(10) and first.is_leader
        deadline = time.monotonic() + 4 * lease  # four leases into the check
        while time.monotonic() < deadline:
            assert not second.is_leader
            time.sleep(0.05)
        assert first.is_leader
    finally:
        done.set()
        first.stop()
        second.stop()


def test_a_lease_must_last_a_positive_time(open_store):
    from mlflow_monitor.monitor.scheduler import LeaderSchedule, PeriodicJob

    with pytest.raises(ValueError, match="lease_seconds must be positive"):
        LeaderSchedule(open_store(), [PeriodicJob("x", 1.0, lambda: None)], lease_seconds=0)


def test_a_process_does_not_lead_while_another_process_does(uri, open_store):
    process = contender(uri)
    try:
        assert process.stdout.readline().strip() == "leader"
        mine = open_store().leadership(NAME)
        assert not mine.try_acquire()
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        if uri.startswith("postgresql"):  # lock gone with the process
            assert eventually(mine.try_acquire)
        else:  # a lease outlives its killed holder until it expires
            assert not mine.try_acquire()
    finally:
        process.kill()
        process.wait(30)
        process.stdout.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_inherit_the_leadership(open_store):
    leadership = open_store().leadership(NAME)
    assert leadership.try_acquire()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        ok = not leadership.is_leader and not leadership.renew() and not leadership.try_acquire()
        os._exit(0 if ok else 1)
    assert os.waitpid(pid, 0)[1] == 0
    assert leadership.renew()  # the child left the parent's connection and lease alone


def test_a_dropped_lock_connection_ends_the_leadership(postgres_uri, postgres_server):
    store = SqlInferenceStore(postgres_uri, "reviews", "3")
    leader, other = store.leadership(NAME), store.leadership(NAME)
    assert leader.try_acquire() and not other.try_acquire()
    terminate = sa.text(
        "SELECT pg_terminate_backend(pid) FROM pg_locks "
        "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    with store.engine.begin() as conn:
        assert conn.execute(terminate).scalar()  # e.g. a network cut or an admin
    assert not leader.renew() and not leader.is_leader
    assert eventually(other.try_acquire)
    assert not leader.try_acquire()
    store.close()


def test_leadership_comes_back_after_the_database_restarts(postgres_uri, postgres_server):
    store = SqlInferenceStore(postgres_uri, "reviews", "3")
    leadership = store.leadership(NAME)
    assert leadership.try_acquire()
    postgres_server.stop()
    try:
        assert not leadership.try_acquire()  # never raises; cannot lead without the database
        assert not leadership.is_leader
    finally:
        postgres_server.start()
    assert leadership.try_acquire()
    store.close()


# -- monitors ------------------------------------------------------------------------------


class CountingCheckLogger:
    """Receives the checks a monitor ran (a stand-in for MLflow check runs)."""

    def __init__(self):
        self.checks = []

    def log_check(self, result, **samples):
        self.checks.append(result.kind)

    def set_run_tags(self, run_id, tags):
        pass


def monitor_on(store):
    config = {
        "enable_drift_detection": False,
        "performance_min_samples": 10,
        "performance_check_minutes": 0.002,  # 0.12 s
    }
    logger = CountingCheckLogger()
    monitor = ModelMonitor(config, store=store, check_logger=logger)
    monitor.setup_performance_baseline(BASELINE)
    return monitor, logger


def test_only_the_leading_monitor_runs_scheduled_checks(open_store):
    (first, first_log), (second, second_log) = monitor_on(open_store()), monitor_on(open_store())
    first.record_predictions([1] * 20, true_labels=[1] * 20)
    first.store.flush()
    first.start_monitoring()
    second.start_monitoring()
    try:
        assert first.get_monitoring_status()["leader"] is True
        assert second.get_monitoring_status()["leader"] is False
        assert eventually(lambda: len(first_log.checks) >= 3)
        assert second_log.checks == []
        assert second.check_performance().ran  # explicit checks are not gated
        assert second_log.checks == ["performance"]
        first.stop_monitoring()  # hands the leadership over
        ran_by_first = len(first_log.checks)
        assert not first.is_leader
        assert eventually(lambda: len(second_log.checks) >= 3)
        assert second.is_leader
        assert len(first_log.checks) == ran_by_first
    finally:
        first.close()
        second.close()
    assert not second.is_leader


def test_the_retraining_cooldown_holds_across_processes_sharing_a_store(open_store):
    """A trigger fired by one process (the old leader) puts the same reason in cooldown for
    another (the new leader), which would otherwise fire again at its first check."""
    (first, _), (second, _) = monitor_on(open_store()), monitor_on(open_store())
    try:
        first.record_predictions([1] * 20, true_labels=[0] * 20)  # every prediction wrong
        first.store.flush()
        assert first.check_performance().triggered
        result = second.check_performance()
        assert result.status == "degraded" and not result.triggered
        assert second.get_monitoring_status()["triggers"]["suppressed_by_cooldown"] == 1
        assert second.trigger_retraining().fired  # a manual trigger ignores the cooldown
    finally:
        first.close()
        second.close()
