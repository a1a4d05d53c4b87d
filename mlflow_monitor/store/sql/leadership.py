"""Leadership among processes sharing a database store: a lease row, or a PostgreSQL lock.

- :class:`LeaseLeadership`: a row in ``monitor_leases`` names the holder and when its lease
  expires. The holder renews it on every scheduler tick; once it expires (its process died or
  hung), the next process that asks takes it over. Expiry uses the processes' clocks, so hosts
  sharing a lease need clocks that agree to well within the lease's ``ttl``. Used on SQLite.
- :class:`AdvisoryLockLeadership`: a PostgreSQL session advisory lock held on a connection of
  its own. The server releases it the moment that connection ends, including when the process
  is killed, so no lease has to run out; a holder notices a dropped connection at its next
  renewal and stops leading.

Both implement :class:`~mlflow_monitor.store.leadership.Leadership`: they never raise on
database errors (a process that cannot reach the database is not leader) and are safe to call
from several threads.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from mlflow_monitor.store.leadership import new_holder_id
from mlflow_monitor.store.sql.schema import LIBPQ_TIMEOUTS, leases

__all__ = ["AdvisoryLockLeadership", "LeaseLeadership", "advisory_lock_key"]

logger = logging.getLogger(__name__)


class LeaseLeadership:
    """Leadership as an expiring lease in the ``monitor_leases`` table.

    Taking the lease is one conditional UPDATE (the row is ours, or expired) or, for a name
    never leased, an INSERT that only one process can win, so two processes never both
    succeed.

    Args:
        engine: the store's engine (its schema includes ``monitor_leases``).
        name: what is led.
        ttl: seconds a lease lasts without renewal; a holder that dies is replaced after
            this long at most.
        holder: this holder's id; unique per process by default.
        clock: seconds since the epoch; tests pass a fake one to let leases expire.
    """

    def __init__(
        self,
        engine: Engine,
        name: str,
        ttl: float = 60.0,
        *,
        holder: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not ttl > 0:
            raise ValueError(f"ttl must be positive seconds, got {ttl!r}")
        self.engine = engine
        self.name = name
        self.ttl = ttl
        self.holder = holder or new_holder_id()
        self.clock = clock
        self._leader = False
        self._lock = threading.Lock()
        _track(self)

    def __repr__(self) -> str:
        return (
            f"LeaseLeadership({self.name!r}, holder={self.holder!r}, ttl={self.ttl}, "
            f"is_leader={self._leader})"
        )

    @property
    def is_leader(self) -> bool:
        """Whether the lease was ours at the last acquire or renewal."""
        return self._leader

    def try_acquire(self) -> bool:
        """Take or renew the lease if it is ours, expired or never taken."""
        with self._lock:
            now = self.clock()
            c = leases.c
            try:
                with self.engine.begin() as conn:
                    taken = self._extend(
                        conn, now, sa.or_(c.holder == self.holder, c.expires_at < now)
                    )
                if not taken:
                    try:
                        with self.engine.begin() as conn:
                            conn.execute(
                                leases.insert().values(
                                    name=self.name, holder=self.holder, expires_at=now + self.ttl
                                )
                            )
                        taken = True
                    except IntegrityError:
                        taken = False  # the lease exists: someone else holds it
            except SQLAlchemyError as exc:
                logger.warning("cannot take the lease %r: %s", self.name, exc)
                taken = False
            self._changed(taken)
            return taken

    def renew(self) -> bool:
        """Extend the lease while it is still ours (even if it expired unclaimed)."""
        with self._lock:
            if not self._leader:
                return False
            try:
                with self.engine.begin() as conn:
                    kept = self._extend(conn, self.clock(), leases.c.holder == self.holder)
            except SQLAlchemyError as exc:
                logger.warning("cannot renew the lease %r: %s", self.name, exc)
                kept = False
            self._changed(kept)
            return kept

    def release(self) -> None:
        """Give the lease up (delete its row if it is still ours)."""
        with self._lock:
            was_leader, self._leader = self._leader, False
            if not was_leader:
                return
            c = leases.c
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        sa.delete(leases).where(c.name == self.name, c.holder == self.holder)
                    )
            except SQLAlchemyError as exc:
                logger.warning(
                    "cannot release the lease %r (it expires in %s s): %s", self.name, self.ttl, exc
                )
            logger.info("released the leadership of %s", self.name)

    def _extend(self, conn: Connection, now: float, condition: sa.ColumnElement[bool]) -> bool:
        c = leases.c
        updated = conn.execute(
            sa.update(leases)
            .where(c.name == self.name, condition)
            .values(holder=self.holder, expires_at=now + self.ttl)
        ).rowcount
        return bool(updated)

    def _changed(self, leader: bool) -> None:
        if leader != self._leader:
            logger.info(
                "%s the leadership of %s (%s)",
                "took" if leader else "lost",
                self.name,
                self.holder,
            )
        self._leader = leader

    def _forget(self) -> None:
        """In a forked child: the parent's lease is not ours."""
        self._lock = threading.Lock()
        self.holder = new_holder_id()
        self._leader = False


def advisory_lock_key(name: str) -> int:
    """The PostgreSQL advisory lock key (a signed 64-bit integer) of a leadership name."""
    digest = hashlib.blake2b(f"mlflow-monitor:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLockLeadership:
    """Leadership as a PostgreSQL session advisory lock on a connection of its own.

    The leader keeps one connection open (outside the store's pool); the server frees the lock
    when that connection ends for any reason. Renewal checks that the connection still works;
    if it does not, this object stops leading and tries again on a new connection at its next
    :meth:`try_acquire`. A process that does not lead holds no connection between attempts.

    Args:
        url: the store's database URL.
        name: what is led.
    """

    def __init__(self, url: sa.URL | str, name: str) -> None:
        url = sa.make_url(url)
        connect_args: dict[str, Any] = {}
        if url.get_driver_name() in ("psycopg", "psycopg2"):  # both speak through libpq
            connect_args = {k: v for k, v in LIBPQ_TIMEOUTS.items() if k not in url.query}
        self.engine = sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)
        self.name = name
        self.key = advisory_lock_key(name)
        self._conn: Connection | None = None
        self._leader = False
        self._lock = threading.Lock()
        _track(self)

    def __repr__(self) -> str:
        return f"AdvisoryLockLeadership({self.name!r}, key={self.key}, is_leader={self._leader})"

    @property
    def is_leader(self) -> bool:
        """Whether the lock was held at the last acquire or renewal."""
        return self._leader

    def try_acquire(self) -> bool:
        """Keep the lock if held (and its connection works), else try to take it."""
        with self._lock:
            if self._leader:
                return self._still_held()
            try:
                if self._conn is None:
                    self._conn = self.engine.connect().execution_options(
                        isolation_level="AUTOCOMMIT"
                    )
                query = sa.select(sa.func.pg_try_advisory_lock(self.key))
                taken = bool(self._conn.execute(query).scalar())
            except SQLAlchemyError as exc:
                logger.warning("cannot take the leadership of %s: %s", self.name, exc)
                taken = False
            if taken:
                logger.info("took the leadership of %s", self.name)
                self._leader = True
            else:
                self._disconnect()
            return taken

    def renew(self) -> bool:
        """Whether the lock is still held: its connection still answers."""
        with self._lock:
            return self._leader and self._still_held()

    def release(self) -> None:
        """Unlock and close the connection."""
        with self._lock:
            was_leader, self._leader = self._leader, False
            if was_leader and self._conn is not None:
                # If this fails, closing the connection below frees the lock as well.
                with contextlib.suppress(SQLAlchemyError):
                    self._conn.execute(sa.select(sa.func.pg_advisory_unlock(self.key)))
                logger.info("released the leadership of %s", self.name)
            self._disconnect()

    def close(self) -> None:
        """Release the lock and the engine."""
        self.release()
        self.engine.dispose()

    def _still_held(self) -> bool:
        assert self._conn is not None
        try:
            self._conn.execute(sa.select(1))
            return True
        except SQLAlchemyError as exc:
            logger.warning("lost the leadership of %s: its connection failed: %s", self.name, exc)
            self._leader = False
            self._disconnect()
            return False

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()

    def _forget(self) -> None:
        """In a forked child: the parent's connection and lock are not ours. The connection
        is kept referenced, never closed here, so the parent's session stays intact."""
        if self._conn is not None:
            _INHERITED.append(self._conn)
        self._conn = None
        self._leader = False
        self._lock = threading.Lock()


# -- process lifecycle ---------------------------------------------------------------------

_LEADERSHIPS: weakref.WeakSet[LeaseLeadership | AdvisoryLockLeadership] = weakref.WeakSet()
_INHERITED: list[Connection] = []
_hooks_installed = False
_hooks_lock = threading.Lock()


def _track(leadership: LeaseLeadership | AdvisoryLockLeadership) -> None:
    global _hooks_installed  # noqa: PLW0603 - installed once per process, on first use
    with _hooks_lock:
        if not _hooks_installed:
            os.register_at_fork(after_in_child=_forget_parent_leaderships)
            _hooks_installed = True
        _LEADERSHIPS.add(leadership)


def _forget_parent_leaderships() -> None:
    for leadership in list(_LEADERSHIPS):
        leadership._forget()
