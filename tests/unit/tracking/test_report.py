"""The check report (report.html): what it says for known results, and that it is
self-contained."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser

import numpy as np
import pytest

from mlflow_monitor import CheckResult
from mlflow_monitor.tracking.artifacts import write_check_artifacts
from mlflow_monitor.tracking.report import render_report
from mlflow_monitor.tracking.svg import TimelinePoint, timeline
from tests.support.check_runs import T0, drift_check, performance_check


class _Page(HTMLParser):
    """The parts of a page the tests read: text by section, elements, attributes."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.sections: dict[str, str] = {}
        self._section = "top"
        self._in_h2 = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_h2 = tag == "h2"

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self._section = data.strip()
            self.sections.setdefault(self._section, "")
        else:
            self.sections[self._section] = self.sections.get(self._section, "") + data


def _samples() -> dict[str, tuple[list[float], list[float]]]:
    rng = np.random.default_rng(0)
    return {
        "length": (rng.normal(size=300).tolist(), (rng.normal(size=200) + 1).tolist()),
        "price/€": (rng.normal(size=300).tolist(), (rng.normal(size=200) * 2).tolist()),
    }


def test_a_drift_report_says_the_verdict_first_and_names_the_drifted_columns():
    result = drift_check(0)
    page = _Page(render_report(result, model_name="reviews", model_version="3", samples=_samples()))
    headings = [h for h in page.sections if h != "top"]
    assert headings[:2] == ["Summary", "Columns"]
    summary = page.sections["Summary"]
    assert "p = 0.001" in summary and "drift detected" in summary
    assert "2 of 3 columns drifted" in summary and "length, price/€" in summary
    assert "Retraining was triggered" in summary
    assert "reviews v3: drift check" in page.sections["top"]
    rows = [a for t, a in page.tags if t == "tr" and a.get("class") == "drifted"]
    assert len(rows) == 2  # length and price/€, not stars
    charts = [
        a for t, a in page.tags if t == "svg" and a.get("aria-label") in {"length", "price/€"}
    ]
    assert len(charts) == 2
    boxes = [
        a["class"]
        for t, a in page.tags
        if t == "div" and (a.get("class") or "x").split()[0] == "col"
    ]
    assert boxes == ["col drifted", "col drifted"]


def test_a_report_for_no_drift_says_so():
    result = drift_check(0, p_value=0.4)
    result = replace(result, triggered=False)
    text = render_report(result, model_name="m", model_version="1")
    summary = _Page(text).sections["Summary"]
    assert "is not below the significance level 0.05" in summary
    assert "no drift detected" in summary and "No retraining was triggered" in summary


def test_a_performance_report_compares_with_the_baseline():
    page = _Page(render_report(performance_check(0), model_name="m", model_version="1"))
    summary = page.sections["Summary"]
    assert "Performance degraded" in summary and "precision 11.0% below its baseline" in summary
    table = page.sections["Performance against the baseline"]
    assert "0.8" in table and "0.9" in table and "-0.100 (-11.1%)" in table
    assert "+" in table or "-" in table
    assert "accuracy" in table and "degraded" in table
    # the confusion matrix shades from 0 to the largest count (TP 40): dark text on the light
    # cells of small counts (FP 10, FN 15), white on the dark ones (TN 35, TP 40)
    cells = [a["style"] for t, a in page.tags if t == "td" and "style" in a]
    text_colours = [re.search(r";color:(.+)$", s).group(1) for s in cells]  # type: ignore[union-attr]
    assert text_colours == ["white", "#263238", "#263238", "white"]


def test_a_skipped_check_gives_its_reason():
    skipped = CheckResult("drift", "skipped", reason="need 100 new feature rows, have 7")
    summary = _Page(render_report(skipped, model_name="m", model_version="1")).sections["Summary"]
    assert "The check was skipped: need 100 new feature rows, have 7." in summary


def test_the_timeline_marks_the_threshold_findings_and_triggers():
    history = [drift_check(60 * i, p_value=p) for i, p in enumerate([0.5, 0.3, 0.001])]
    history[0] = replace(history[0], triggered=False)
    history[1] = replace(history[1], triggered=False)
    current = history[-1]
    text = render_report(current, model_name="m", model_version="1", history=history[:-1])
    recent = text[text.index("<h2>Recent checks</h2>") :]
    assert recent.count("<circle") == 3  # the two before and this one
    assert recent.count('fill="#c62828"') >= 2  # the finding, and its trigger mark
    assert "threshold 0.05" in recent
    assert "retraining triggered" in recent
    assert f"{T0:%Y-%m-%d %H:%M}" in recent
    assert f"{T0 + timedelta(hours=2):%Y-%m-%d %H:%M} UTC" in recent


def test_timeline_scales():
    points = [
        TimelinePoint(T0 + timedelta(hours=i), "drift", p, p < 0.05)
        for i, p in enumerate([0.5, 1e-12])
    ]
    svg = timeline(points, threshold=0.05, log_scale=True, label="p-value")
    labels = re.findall(r'text-anchor="end" fill="#37474f">([^<]+)<', svg)
    ticks = [float(label) for label in labels if re.fullmatch(r"[0-9.e+-]+", label)]
    assert 1e-12 in ticks and 1.0 in ticks  # the axis spans the values, in whole decades
    assert all(float(np.log10(v)).is_integer() for v in ticks)
    flat = timeline(points[:1], threshold=None, log_scale=False, label="x")
    assert "<circle" in flat


@pytest.mark.parametrize(
    "result",
    [drift_check(0), performance_check(0), CheckResult("drift", "skipped", reason="r")],
    ids=["drift", "performance", "skipped"],
)
def test_the_report_fetches_nothing(result):
    text = render_report(result, model_name="m", model_version="1", samples=_samples())
    assert "<script" not in text.lower()
    page = _Page(text)
    for tag, attrs in page.tags:
        for name in ("src", "href"):
            assert name not in attrs, (tag, attrs)  # no image, font, stylesheet or link
    assert "@import" not in text and "url(" not in text


def test_links_are_listed_at_the_bottom():
    text = render_report(
        drift_check(0),
        model_name="m",
        model_version="1",
        links={"History run": "http://127.0.0.1:5000/#/experiments/1/runs/abc"},
    )
    assert text.index("<h2>Links</h2>") > text.index("<h2>Recent checks</h2>")
    assert 'href="http://127.0.0.1:5000/#/experiments/1/runs/abc"' in text


def test_every_check_run_gets_a_report(tmp_path):
    write_check_artifacts(
        tmp_path, performance_check(0), {}, model_name="m", model_version="1", history=()
    )
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_the_confusion_matrix_png_colours_from_zero():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from mlflow_monitor.tracking.artifacts import _plot_confusion

    figure = Figure()
    FigureCanvasAgg(figure)
    snapshot = replace(
        performance_check(0).performance,  # type: ignore[arg-type]
        true_positives=35,
        false_positives=30,
        false_negatives=31,
        true_negatives=34,
    )
    assert _plot_confusion(figure, snapshot)
    (ax,) = figure.axes
    assert ax.images[0].get_clim() == (0, 35)
    colours = {text.get_text(): text.get_color() for text in ax.texts}
    # 30 of 35 is dark enough for white text; before, 30 was the lightest cell and white text
    # on it was unreadable
    assert colours["30"] == "white" and colours["35"] == "white"
