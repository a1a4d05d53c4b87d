"""Admission: which prediction requests a serve worker takes, so that a flood is refused
instead of answered and then dropped.

Every row a worker answers is recorded through its store's bounded write queue
(``store_queue_size`` rows). A request that cannot fit used to be answered 200 and then
dropped, rows of other clients with it. The policy, per worker:

- a request of more than ``max_rows`` rows is refused outright (``/predict`` 413,
  ``/invocations`` 400): split it. By default ``max_rows`` is a tenth of the queue (10,000
  rows with the default queue of 100,000);
- a *large* request (more than ``small_rows``, by default ``store_batch_size`` rows, at most a
  tenth of the queue) is admitted only while the queue, counting the rows of requests already
  admitted and not yet recorded, stays at most half full; otherwise it is refused with 503
  and ``Retry-After``. The other half is kept for small requests;
- a small request is always admitted: it is only dropped (and counted in
  ``<prefix>_records_dropped_total``) when the queue is full, which takes a database slower
  than the small traffic itself, not another client's flood.

So the client that overloads the worker is the one refused, and what is answered 200 is
recorded, or counted as dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from mlflow_monitor.exceptions import MonitorError

__all__ = ["Admission", "OverloadedError", "TooManyRowsError"]


class TooManyRowsError(MonitorError):
    """A request holds more rows than a worker takes in one request."""


class OverloadedError(MonitorError):
    """The worker's write queue has no room for a large request now; retry later."""


class Admission:
    """Admits prediction requests by their number of rows (see the module's policy).

    Args:
        queued: the rows waiting in the store's write queue now.
        queue_size: the queue's bound (``store_queue_size``).
        max_rows: most rows per request; a tenth of the queue when None.
        small_rows: requests of at most this many rows are always admitted; at most a tenth
            of the queue.
    """

    def __init__(
        self,
        queued: Callable[[], int],
        queue_size: int,
        max_rows: int | None = None,
        small_rows: int = 500,
    ) -> None:
        self.queue_size = max(int(queue_size), 1)
        self.max_rows = max_rows if max_rows is not None else max(self.queue_size // 10, 1)
        self.small_rows = max(min(small_rows, self.queue_size // 10), 1)
        self._queued = queued
        self._reserved = 0  # rows of admitted requests not recorded yet
        self._lock = threading.Lock()

    def reserve(self, rows: int) -> None:
        """Admit a request of ``rows`` rows and hold room for them until :meth:`release`.

        Raises:
            TooManyRowsError: more than ``max_rows`` rows.
            OverloadedError: a large request that would fill the queue past half.
        """
        if rows > self.max_rows:
            raise TooManyRowsError(
                f"{rows} rows in one request; this server takes at most {self.max_rows} "
                "(split the request, or raise --max-rows and store_queue_size together)"
            )
        with self._lock:
            if rows > self.small_rows:
                waiting = self._queued() + self._reserved
                if waiting + rows > self.queue_size // 2:
                    raise OverloadedError(
                        f"the inference store's write queue holds {waiting} of "
                        f"{self.queue_size} rows; a request of {rows} rows is refused until "
                        f"it drains (requests of at most {self.small_rows} rows are taken)"
                    )
            self._reserved += rows

    def release(self, rows: int) -> None:
        """The request's rows are recorded (or it failed): free the room held for them."""
        with self._lock:
            self._reserved -= rows

    @contextmanager
    def admit(self, rows: int) -> Iterator[None]:
        """:meth:`reserve` for the duration of the block, then :meth:`release`."""
        self.reserve(rows)
        try:
            yield
        finally:
            self.release(rows)
