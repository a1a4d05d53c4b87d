"""Leadership: which of the processes sharing an inference store runs the periodic checks.

Every serving process (worker or host) of a model version may run a monitor with
:meth:`~mlflow_monitor.monitor.ModelMonitor.start_monitoring`; only the one that holds the
stream's leadership runs the scheduled checks, so a window is tested, logged and acted on once.
A store hands out its kind of leadership (:meth:`InferenceStore.leadership
<mlflow_monitor.store.InferenceStore.leadership>`). This module holds the interface and the
leadership of a store no other process shares (:class:`SoleLeadership`); the database kinds,
a lease row and a PostgreSQL advisory lock, are in :mod:`mlflow_monitor.store.sql.leadership`.

Each of them answers :meth:`~Leadership.try_acquire` (become or stay leader),
:meth:`~Leadership.renew` (stay leader), :meth:`~Leadership.release` and
:attr:`~Leadership.is_leader`, never raises on database errors (a process that cannot reach the
database is not leader), and is safe to call from several threads.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Protocol

__all__ = ["Leadership", "SoleLeadership", "new_holder_id"]


class Leadership(Protocol):
    """The right to run a stream's periodic checks, held by at most one process at a time.

    Attributes:
        name: what is led, e.g. ``"checks:reviews/3"``; everyone asking for the same name
            competes for the same leadership.
    """

    name: str

    @property
    def is_leader(self) -> bool:
        """Whether this object held the leadership at its last acquire or renewal."""
        ...

    def try_acquire(self) -> bool:
        """Become leader, or stay leader, if no one else holds the leadership now.

        Returns:
            Whether this object leads now.
        """
        ...

    def renew(self) -> bool:
        """Stay leader (extend the lease); never takes over from someone else.

        Returns:
            Whether this object still leads.
        """
        ...

    def release(self) -> None:
        """Stop leading, so another process can take over at once."""
        ...


def new_holder_id() -> str:
    """An id for one leadership holder: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SoleLeadership:
    """Leadership of a store that no other process shares: asking is enough.

    Args:
        name: what is led.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._leader = False

    def __repr__(self) -> str:
        return f"SoleLeadership({self.name!r}, is_leader={self._leader})"

    @property
    def is_leader(self) -> bool:
        """True between :meth:`try_acquire` and :meth:`release`."""
        return self._leader

    def try_acquire(self) -> bool:
        """Lead; always succeeds."""
        self._leader = True
        return True

    def renew(self) -> bool:
        """Whether :meth:`try_acquire` was called since the last :meth:`release`."""
        return self._leader

    def release(self) -> None:
        """Stop leading."""
        self._leader = False
