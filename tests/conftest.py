"""Fixtures every test may use: fresh Prometheus registries, seeded data, a controllable clock,
MLflow's embedded SQLite store; the check-run tests' loggers. Fixtures that start services are
in ``tests/integration/conftest.py``.

Every test under ``tests/integration/`` is marked ``services`` here, so ``pytest -m "not
services"`` runs the in-process tests only.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from tests.support.demo_journey import DEMO_JOURNEY, BackgroundJourney

INTEGRATION = Path(__file__).resolve().parent / "integration"
BROWSER_TESTS = INTEGRATION / "ui"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(INTEGRATION):
            item.add_marker(pytest.mark.services)
    # the browser tests go last: they wait for the demo's journey (see below)
    browser = [item for item in items if item.path.is_relative_to(BROWSER_TESTS)]
    items[:] = [item for item in items if not item.path.is_relative_to(BROWSER_TESTS)]
    items += browser


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the demo's journey in the background if browser tests are still selected.

    They look at the store it makes (``demo_store`` waits for it); the tests before them run
    meanwhile.
    """
    selected = any(item.path.is_relative_to(BROWSER_TESTS) for item in session.items)
    if (
        selected
        and not session.config.option.collectonly
        and not os.environ.get("MLFLOW_MONITOR_DEMO_OUTPUT")
    ):
        session.config.stash[DEMO_JOURNEY] = BackgroundJourney()


def pytest_unconfigure(config: pytest.Config) -> None:
    journey = config.stash.get(DEMO_JOURNEY, None)
    if journey is not None:
        journey.stop()


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def embedded_tracking(tmp_path_factory):
    """MLflow's embedded default: a local SQLite tracking and registry store.

    Session-scoped because creating the MLflow schema takes several seconds. Sets the
    global tracking URI (and ``MLFLOW_TRACKING_URI`` for subprocesses) for the session.
    """
    import os

    import mlflow

    root = tmp_path_factory.mktemp("embedded-mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    yield uri
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous
    mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="session")
def sqlite_tracking_uri(tmp_path_factory):
    """A local SQLite MLflow tracking store; unlike ``embedded_tracking``, no global state.

    Session-scoped because creating the MLflow schema takes seconds: tests keep apart by
    using their own model (and so experiment) names.
    """
    root = tmp_path_factory.mktemp("sqlite-tracking")
    return f"sqlite:///{root}/mlflow.db"


@pytest.fixture(scope="session")
def app_reviews(embedded_tracking):
    """The example detector as ``app-reviews``, wrapped with metrics prefix ``app_reviews``:
    the model of the serve-app tests (tests/unit/serving/test_app.py and
    tests/integration/serving/test_app.py), wrapped once for both."""
    from tests.support.reviews import wrap_example

    return wrap_example("app-reviews", {"metrics_prefix": "app_reviews"})


# -- check runs (tests/unit/tracking, tests/integration/tracking) ----------------------------


@pytest.fixture
def model_name(request) -> str:
    return f"reviews-{request.node.name}"


@pytest.fixture
def make_logger(tmp_path, model_name):
    """``make_logger(uri, **kwargs)``: a CheckRunLogger of ``model_name`` version 3 on ``uri``
    (artifacts under ``tmp_path`` on a SQLite store)."""
    from mlflow_monitor.tracking.check_runs import CheckRunLogger

    def make(uri: str, **kwargs) -> CheckRunLogger:
        if uri.startswith("sqlite"):  # the server keeps its own artifacts
            kwargs.setdefault("artifact_location", str(tmp_path / "artifacts"))
        kwargs.setdefault("model_name", model_name)
        kwargs.setdefault("model_version", 3)
        return CheckRunLogger(tracking_uri=uri, **kwargs)

    return make
