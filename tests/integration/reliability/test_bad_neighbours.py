"""A real `mlflow-monitor serve --workers 2`: requests carrying ids no store can keep (a lone
surrogate, a NUL character), sent among 4 normal clients, are refused with a 4xx, and every
prediction the normal clients were answered 200 is stored. Before issue #16's fix the SQL
writer dropped whole chunks: 77 of 475 acknowledged predictions were lost via /predict, 81 of
489 via /invocations (where the bad request itself got a 200).

See docs/reliability.md.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.support.monitor_server import MonitorServer
from tests.support.reviews import wrap_example
from tests.support.streams import PredictionStream, stored_predictions

MODEL = "neighbours-reviews"


@pytest.fixture(scope="module")
def wrapped(embedded_tracking):
    return wrap_example(MODEL, {"metrics_prefix": "neighbours", "store_flush_seconds": 0.2})


def _post_raw(url: str, body: str) -> int:
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_bad_ids_among_normal_clients_cost_them_nothing(wrapped, tmp_path):
    store_uri = f"sqlite:///{tmp_path}/inference.db"
    args = ["--workers", "2", "--store-uri", store_uri, "--no-checks"]
    with MonitorServer(tmp_path, wrapped.uri, args=args) as server:
        streams = [PredictionStream(server.uri, tag=f"c{i}").start() for i in range(4)]
        bad = [
            ("/predict", json.dumps({"text": "bad", "prediction_id": "\ud800"})),
            ("/predict", json.dumps({"text": "bad", "prediction_id": "nul\x00"})),
            (
                "/invocations",
                json.dumps({"dataframe_records": [{"text": "b", "prediction_id": "\udfff"}]}),
            ),
        ]
        statuses = []
        try:
            for stream in streams:
                stream.wait_for(5)
            for _ in range(10):
                for path, body in bad:
                    statuses.append(_post_raw(f"{server.uri}{path}", body))
                time.sleep(0.1)
            for stream in streams:
                stream.wait_for(len(stream.acknowledged) + 10)
        finally:
            for stream in streams:
                stream.stop()
        acknowledged = set().union(*(s.acknowledged_ids() for s in streams))
        deadline = time.monotonic() + 60
        while True:
            stored = {r.prediction_id for r in stored_predictions(store_uri, MODEL)}
            if acknowledged <= stored or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        lost = acknowledged - stored
        assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged predictions lost"
        assert all(400 <= s < 500 for s in statuses), statuses
        assert "Traceback" not in server.log()
