"""A client that streams predictions at a real server and remembers which were acknowledged,
and what the store holds (read straight from the database)."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.error
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from mlflow_monitor.store.sql.schema import predictions, streams
from tests.support.http import post_json
from tests.support.reviews import make_reviews

__all__ = ["PredictionStream", "StoredPrediction", "stored_predictions"]

TEXTS = make_reviews(64, seed=3)["text"].tolist()


@dataclass
class StoredPrediction:
    prediction_id: str
    prediction: str | None
    probability: float | None
    timestamp: float | None
    raw_features: str | None


def stored_predictions(store_uri: str, model_name: str, model_version: str = "1") -> list[Any]:
    """Every prediction row of a stream, read straight from the database."""
    engine = sa.create_engine(store_uri)
    try:
        p, s = predictions.c, streams.c
        query = (
            sa.select(p.prediction_id, p.prediction, p.probability, p.timestamp, p.raw_features)
            .join(streams, s.stream_id == p.stream_id)
            .where(s.model_name == model_name, s.model_version == model_version)
            .order_by(p.seq)
        )
        with engine.connect() as conn:
            return [StoredPrediction(*row) for row in conn.execute(query)]
    finally:
        engine.dispose()


@dataclass
class PredictionStream:
    """Sends ``POST /predict`` requests of ``rows`` rows each, one after another, each row with
    its own id ``<tag>-<request>-<row>``, until stopped or the server stops answering.

    Attributes:
        sent: ids of every request sent, in order (a list of row ids per request).
        acknowledged: indexes of the requests answered 200.
        failed: (request index, status or error) of the others.
        acknowledged_at: ``time.monotonic()`` when each acknowledged request was answered.
    """

    url: str
    tag: str
    rows: int = 3
    limit: int = 100_000
    sent: list[list[str]] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    acknowledged_at: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.lock = threading.Lock()

    def start(self) -> PredictionStream:
        self._thread.start()
        return self

    def wait_for(self, acknowledged: int, timeout: float = 60) -> None:
        """Block until ``acknowledged`` requests were answered 200."""
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < acknowledged:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise AssertionError(
                    f"only {len(self.acknowledged)} of {acknowledged} requests answered; "
                    f"failures: {self.failed[:3]}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 60) -> None:
        """Send no more requests; return once the one in flight was answered."""
        self._stop.set()
        self._thread.join(timeout)

    def join(self, timeout: float = 120) -> None:
        """Wait until all ``limit`` requests were sent and answered."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the stream did not finish in time"

    def _run(self) -> None:
        for index in range(self.limit):
            if self._stop.is_set():
                return
            ids = [f"{self.tag}-{index}-{row}" for row in range(self.rows)]
            payload = [
                {"text": TEXTS[(index + row) % len(TEXTS)], "prediction_id": pid}
                for row, pid in enumerate(ids)
            ]
            with self.lock:
                self.sent.append(ids)
            try:
                status, _ = post_json(f"{self.url}/predict", payload, timeout=30)
            # The server went away: refused, reset, or killed halfway through its answer.
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                self.failed.append((index, repr(exc)))
                return
            if status == 200:
                self.acknowledged_at[index] = time.monotonic()
                self.acknowledged.append(index)
            else:
                self.failed.append((index, str(status)))

    def acknowledged_ids(self) -> set[str]:
        return {pid for i in self.acknowledged for pid in self.sent[i]}

    def sent_ids(self) -> set[str]:
        return {pid for ids in self.sent for pid in ids}
