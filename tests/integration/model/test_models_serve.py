"""`mlflow models serve` serves a monitored model unchanged, and the server records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest

from mlflow_monitor.model.wrap import wrap
from mlflow_monitor.store.sql.store import SqlInferenceStore
from tests.support.ports import free_port
from tests.support.reviews import log_detector, make_reviews, train_pipeline

BASELINE = {"precision": 0.9, "recall": 0.9, "accuracy": 0.9, "f1_score": 0.9}


def _post(url: str, payload: dict) -> object:
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def served(embedded_tracking, tmp_path_factory):
    train = make_reviews(400, seed=1)
    inputs = train[["text"]]
    with mlflow.start_run():
        log_detector(train_pipeline(train), inputs, "served-reviews")
    wrapped = wrap("models:/served-reviews/1", inputs, BASELINE)
    store_uri = f"sqlite:///{tmp_path_factory.mktemp('serve')}/inference.db"
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_MONITOR_STORE_URI": store_uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    log = tmp_path_factory.mktemp("serve-log") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                wrapped.uri,
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/ping", timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"mlflow models serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    yield url, store_uri
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def test_invocations_return_the_inner_output_and_are_recorded(served):
    url, store_uri = served
    batch = make_reviews(25, seed=9)[["text"]]
    payload = {"dataframe_split": batch.to_dict(orient="split")}
    payload["dataframe_split"].pop("index")
    body = _post(f"{url}/invocations", payload)
    inner = mlflow.pyfunc.load_model("models:/served-reviews/1").predict(batch)
    np.testing.assert_allclose(np.asarray(body["predictions"]), inner, rtol=1e-12)

    with_ids = batch.assign(prediction_id=[f"srv-{i}" for i in range(25)])
    _post(f"{url}/invocations", {"dataframe_records": with_ids.to_dict(orient="records")})

    store = SqlInferenceStore(store_uri, model_name="served-reviews", model_version="1")
    try:
        deadline = time.monotonic() + 30
        while store.counts().predictions < 50 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert store.counts().predictions == 50
        store.label("srv-3", 1)  # ids sent by the client reached the store
        assert store.counts().labels == 1
    finally:
        store.close()
