"""What a person sees in the MLflow UI, in a real browser, over the store the demo makes.

The journey of ``make demo`` (examples/mlflow_journey.py) runs once; a real ``mlflow ui``
serves its store on loopback and Debian's Chromium (through Playwright) opens the pages a
user opens. Screenshots go to ``test-output/ui/`` in the repository: look at them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import mlflow
import pytest

from tests.support.demo_journey import DEMO_JOURNEY
from tests.support.mlflow_ui import Browser, MlflowUi
from tests.support.paths import REPO

SCREENSHOTS = REPO / "test-output" / "ui"
pytestmark = pytest.mark.filterwarnings(
    "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
)


@pytest.fixture(scope="module")
def demo_store(request) -> Path:
    """The output of the demo's journey: its MLflow store, inference store and logs.

    The journey starts in the background when the tests are collected (``tests/conftest.py``)
    and these tests run last. ``MLFLOW_MONITOR_DEMO_OUTPUT`` names the output of an earlier
    run to look at instead (``make demo`` writes demo-output/mlflow), which spares the
    journey's two minutes.
    """
    earlier = os.environ.get("MLFLOW_MONITOR_DEMO_OUTPUT")
    if earlier:
        return Path(earlier)
    return request.config.stash[DEMO_JOURNEY].wait()


@pytest.fixture(scope="module")
def ui(demo_store):
    server = MlflowUi(demo_store / "ui", f"sqlite:///{demo_store / 'mlflow.db'}").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def runs(demo_store):
    client = mlflow.MlflowClient(f"sqlite:///{demo_store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("monitoring/reviews")
    found = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    history = next(r for r in found if r.data.tags.get("mlflow_monitor.role") == "history")
    drift = next(
        r
        for r in found
        if r.data.tags.get("mlflow_monitor.check") == "drift"
        and r.data.tags.get("mlflow_monitor.outcome") == "drift"
    )
    return {"experiment": experiment.experiment_id, "history": history, "drift": drift}


@pytest.fixture(scope="module")
def browser(ui):
    with Browser(SCREENSHOTS) as opened:
        yield opened
    outside = {
        urlsplit(url).netloc
        for url in opened.requests
        if urlsplit(url).scheme in {"http", "https", "ws", "wss"}
    } - {f"127.0.0.1:{ui.port}"}
    assert not outside, f"requests left loopback: {sorted(outside)}"


def _go(browser, ui, fragment: str, wait_for: str) -> None:
    browser.page.goto(f"{ui.uri}/#/{fragment}")
    browser.page.get_by_text(wait_for).first.wait_for(timeout=60_000)


def test_the_experiment_lists_check_runs_by_verdict(browser, ui, runs):
    page = browser.page
    page.goto(f"{ui.uri}/#/experiments/{runs['experiment']}/runs")
    # A fresh browser starts in MLflow's GenAI mode; its sidebar toggle switches to the
    # classic runs table (the README says so).
    page.get_by_text("Model training", exact=True).first.click()
    page.goto(f"{ui.uri}/#/experiments/{runs['experiment']}/runs")
    page.get_by_text("history reviews v1").first.wait_for(timeout=60_000)
    # the check runs are children of the history run: open it in the table
    page.locator('button[data-component-id*="runnamecellrenderer"]').first.click()
    page.get_by_text(runs["drift"].info.run_name).first.wait_for(timeout=60_000)
    assert page.get_by_text("performance \u2717").count() >= 1
    # the experiment's name and header load after the table: without them, placeholders
    page.get_by_text("monitoring/reviews", exact=True).first.wait_for(timeout=60_000)
    browser.shot("1-experiment-runs")


def test_the_check_runs_report_renders_in_the_artifact_viewer(browser, ui, runs):
    drift = runs["drift"]
    page = browser.page
    page.goto(f"{ui.uri}/#/experiments/{runs['experiment']}/runs/{drift.info.run_id}/artifacts")
    page.get_by_text("report.html").first.click()
    frame = None
    for _ in range(120):
        frame = next((f for f in page.frames if "drift check" in (f.content() or "")), None)
        if frame is not None:
            break
        page.wait_for_timeout(500)
    assert frame is not None, "report.html did not render"
    text = frame.content()
    drifted = drift.data.tags["mlflow_monitor.drifted_features"].split(", ")
    assert drifted and all(name in text for name in drifted)
    assert f"{len(drifted)} of " in text and "columns drifted" in text
    browser.shot("2-check-run-report")


def test_the_history_runs_charts_have_sections(browser, ui, runs):
    history = runs["history"]
    where = f"experiments/{runs['experiment']}/runs/{history.info.run_id}/model-metrics"
    _go(browser, ui, where, "distance_threshold")  # a chart of the first section, drift/
    lines = [line.strip() for line in browser.page.inner_text("body").splitlines()]
    sections = {lines[i] for i in range(len(lines) - 1) if re.fullmatch(r"\(\d+\)", lines[i + 1])}
    assert {"drift", "performance"} <= sections
    drifted = history.data.tags.get("mlflow_monitor.drifted_features")
    assert any(s.startswith("feature/") for s in sections), sections
    # charts of the open drift section (drawn alphabetically, the first ones in view)
    assert {"alarm", "distance"} <= set(lines), lines
    assert drifted is None  # the history run holds points, not a verdict
    browser.page.get_by_text("Step").first.wait_for(timeout=60_000)  # the charts are drawn
    browser.shot("3-history-run-charts")


def test_the_registry_version_links_to_its_history(browser, ui, runs):
    page = browser.page
    _go(browser, ui, "models/reviews/versions/1", "Monitored by mlflow-monitor")
    assert page.get_by_text("Replaced by").count() >= 1
    browser.shot("4-registry-version")
    link = page.get_by_role("link", name="all checks: history run").first
    assert (
        link.get_attribute("href")
        == f"#/experiments/{runs['experiment']}/runs/{runs['history'].info.run_id}"
    )
    with browser.context.expect_page() as opened:  # MLflow opens description links in a tab
        link.click()
    tab = opened.value
    tab.get_by_text("history reviews v1").first.wait_for(timeout=60_000)
    assert f"/runs/{runs['history'].info.run_id}" in tab.url
    report = page.get_by_role("link", name="report").first
    assert report.get_attribute("href", timeout=10_000).endswith("/artifacts/report.html")
    browser.shot("5-history-run-from-the-registry", tab)
