"""The Grafana dashboard and Prometheus rules generated from METRIC_DEFINITIONS.

The files committed under deploy/ must equal what the generators write. promtool and a
real Prometheus check the rules and queries in tests/integration/metrics/test_dashboards.py.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlflow_monitor import ConfigError
from mlflow_monitor.cli import cli
from mlflow_monitor.metrics import prometheus as metrics
from mlflow_monitor.metrics.alerts import ALERTS, DEFAULT_JOB, prometheus_rules, rules_yaml
from mlflow_monitor.metrics.grafana import (
    DEFAULT_PREFIX,
    dashboard_json,
    grafana_dashboard,
    metric_names,
)
from mlflow_monitor.metrics.prometheus import (
    METRIC_DEFINITIONS,
    MetricDefinition,
)
from tests.support.dashboards import DEPLOYED_DASHBOARD, DEPLOYED_RULES, panel_exprs, rule_list
from tests.support.paths import REPO as ROOT

ODD_NAMES = "Fake reviews (v2) \"blue\" 'prod' \t\x07 \u2018ü\u2019 😀 # : - [x]"
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def referenced_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (not functions, labels or keywords)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)  # label matchers and ranges
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.:])[A-Za-z_:][\w:]*", expr):
        is_function = expr[match.end() :].lstrip().startswith("(")
        if not is_function and match.group() not in _KEYWORDS:
            names.add(match.group())
    return names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum(rate(a_total{instance=~"$i"}[$__rate_interval]))', {"a_total"}),
        ("increase(p_total[30m]) == 0 and on (job, instance) up == 1", {"p_total", "up"}),
        ('max by (job) (x:y) == 0 or up{job="a b"} == 0', {"x:y", "up"}),
        ("vector(1e-05) > bogus", {"bogus"}),
    ],
    ids=["rate", "and-on", "by-colon", "number"],
)
def test_referenced_names_finds_the_metrics(expr, names):
    assert referenced_names(expr) == names


# --- dashboard -----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", [DEFAULT_PREFIX, "team:reviews_v2"], ids=["default", "colon"])
def test_dashboard_queries_exactly_the_defined_metrics(prefix):
    dashboard = grafana_dashboard(prefix)
    defined = set(metric_names(prefix).values())
    used = set().union(*(referenced_names(e) for e in panel_exprs(dashboard)))
    assert used == defined
    json.loads(dashboard_json(dashboard))  # plain JSON, no NaN or objects


def test_a_new_metric_definition_gets_a_panel(monkeypatch):
    extra = MetricDefinition("queue_depth", "gauge", "Rows waiting for the store")
    counter = MetricDefinition("rejected", "counter", "Rejected rows")
    monkeypatch.setattr(metrics, "METRIC_DEFINITIONS", (*METRIC_DEFINITIONS, extra, counter))
    dashboard = grafana_dashboard("m")
    used = set().union(*(referenced_names(e) for e in panel_exprs(dashboard)))
    assert {"m_queue_depth", "m_rejected_total"} <= used
    others = [p for p in dashboard["panels"] if p["title"] in {extra.help, counter.help}]
    selector = '{model=~"$model", version=~"$version", instance=~"$instance"}'
    assert [p["targets"][0]["expr"] for p in others] == [
        f"m_queue_depth{selector}",
        f"rate(m_rejected_total{selector}[$__rate_interval])",
    ]
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows[-1] == "Other metrics"


def test_every_defined_metric_has_a_panel_of_its_own():
    rows = [p["title"] for p in grafana_dashboard()["panels"] if p["type"] == "row"]
    assert "Other metrics" not in rows


def test_dashboard_is_importable_grafana_json():
    dashboard = grafana_dashboard()
    assert dashboard["schemaVersion"] == 39
    assert dashboard["id"] is None
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    probe = f"{DEFAULT_PREFIX}_monitoring_status"
    assert variables["model"]["query"] == f"label_values({probe}, model)"
    assert variables["version"]["query"] == f'label_values({probe}{{model=~"$model"}}, version)'
    assert variables["instance"]["query"].startswith(f"label_values({probe}{{")
    # Grafana's import dialog asks for the data source, and the variable defaults to it
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    assert variables["datasource"]["current"]["value"] == "${DS_PROMETHEUS}"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)) and all(refs), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
    titles = {p["title"] for p in dashboard["panels"]}
    assert {"Precision", "Recall", "Accuracy", "F1 score", "Drift p-value"} <= titles


def test_uid_is_stable_per_prefix():
    first, again, other = grafana_dashboard("a"), grafana_dashboard("a"), grafana_dashboard("b")
    assert first["uid"] == again["uid"] != other["uid"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", first["uid"])
    assert dashboard_json(first) == dashboard_json(again)


def test_every_query_filters_on_model_version_and_instance():
    dashboard = grafana_dashboard("m")
    exprs = panel_exprs(dashboard) + [a["expr"] for a in dashboard["annotations"]["list"][1:]]
    for expr in exprs:
        for name in referenced_names(expr):
            selectors = re.findall(rf"{re.escape(name)}\{{([^}}]*)\}}", expr)
            assert selectors, f"{name} unfiltered in {expr}"
            for selector in selectors:
                for label in ("model", "version", "instance"):
                    assert f'{label}=~"${label}"' in selector, expr


def test_baselines_and_thresholds_come_from_the_gauges_not_constants():
    dashboard = grafana_dashboard("m")
    text = dashboard_json(dashboard)
    assert "vector(" not in text  # nothing baked in that a retrain would make stale
    panels = {p["title"]: p for p in dashboard["panels"]}
    precision = [(t["expr"], t["legendFormat"]) for t in panels["Precision"]["targets"]]
    selector = 'model=~"$model", version=~"$version", instance=~"$instance"'
    baseline = f'm_baseline{{metric="precision", {selector}}}'
    assert precision == [
        (f"m_precision{{{selector}}}", "v{{version}} {{instance}}"),
        (baseline, "baseline v{{version}}"),
        (
            f"{baseline} * ignoring(metric) (1 - m_performance_threshold{{{selector}}})",
            "degraded below v{{version}}",
        ),
        (f"m_estimated_precision{{{selector}}}", "estimated v{{version}}"),
    ]
    for title in ("Recall", "Accuracy", "F1 score"):
        assert any('metric="' in t["expr"] for t in panels[title]["targets"]), title
    p_value = [t["expr"] for t in panels["Drift p-value"]["targets"]]
    assert f"m_drift_p_value_threshold{{{selector}}}" in p_value


def test_retraining_triggers_are_annotations():
    annotations = grafana_dashboard("m")["annotations"]["list"]
    triggers = [a for a in annotations if a["name"] == "Retraining triggers"]
    assert len(triggers) == 1 and triggers[0]["enable"]
    assert referenced_names(triggers[0]["expr"]) == {"m_retraining_triggered_total"}
    assert triggers[0]["datasource"]["uid"] == "${datasource}"


def test_dashboard_rejects_a_bad_prefix():
    with pytest.raises(ConfigError, match="metrics_prefix"):
        grafana_dashboard("1bad")


# --- rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", [DEFAULT_PREFIX, "team:reviews_v2"], ids=["default", "colon"])
def test_rules_reference_only_defined_metrics_and_up(prefix):
    rules = prometheus_rules(prefix, job="api")
    allowed = set(metric_names(prefix).values()) | {"up"}
    for rule in rule_list(rules):
        assert referenced_names(rule["expr"]) <= allowed, rule["alert"]
        assert referenced_names(rule["expr"]), rule["alert"]


def test_every_alert_names_the_model_and_has_a_severity():
    rules = rule_list(prometheus_rules("m", model_name="Reviews EU"))
    assert tuple(r["alert"] for r in rules) == ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["labels"]["model"] == "Reviews EU"
        assert "Reviews EU" in rule["annotations"]["summary"]
        assert "Reviews EU" in rule["annotations"]["description"]
        events = ("RetrainingTriggered", "RecordsDropped")  # fire at once, no `for`
        assert ("for" in rule) == (rule["alert"] not in events)


@settings(deadline=None)  # a shared machine: time is no property of the text
@given(
    st.text(st.characters(codec="utf-8"), min_size=1).filter(
        lambda s: "{{" not in s and "}}" not in s
    )
)
def test_rules_yaml_reads_back_as_the_rules(text):
    rules = prometheus_rules(job=text, model_name=text)
    assert yaml.safe_load(rules_yaml(rules)) == rules


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model_name": "a {{ $value }}"},
        {"job": ""},
        {"no_predictions_minutes": 0},
        {"for_minutes": 2.5},
        {"prefix": "bad-prefix"},
    ],
    ids=["template", "empty-job", "zero-minutes", "fraction", "prefix"],
)
def test_rules_reject_bad_options(kwargs):
    with pytest.raises(ConfigError):
        prometheus_rules(**kwargs)


# --- committed files and the CLI -----------------------------------------------------------


def test_deployed_files_are_what_the_generators_write():
    dashboard, rules = (p.relative_to(ROOT) for p in (DEPLOYED_DASHBOARD, DEPLOYED_RULES))
    regenerate = (
        f"regenerate with: mlflow-monitor grafana-dashboard -o {dashboard}"
        f" && mlflow-monitor prometheus-rules -o {rules}"
    )
    expected_dashboard = dashboard_json(grafana_dashboard())
    assert DEPLOYED_DASHBOARD.read_text(encoding="utf-8") == expected_dashboard, regenerate
    expected_rules = rules_yaml(prometheus_rules())
    assert DEPLOYED_RULES.read_text(encoding="utf-8") == expected_rules, regenerate


def test_cli_writes_the_deployed_files_by_default(runner):
    dashboard = runner.invoke(cli, ["grafana-dashboard"])
    assert dashboard.exit_code == 0, dashboard.output
    assert dashboard.stdout == DEPLOYED_DASHBOARD.read_text(encoding="utf-8")
    rules = runner.invoke(cli, ["prometheus-rules"])
    assert rules.exit_code == 0, rules.output
    assert rules.stdout == DEPLOYED_RULES.read_text(encoding="utf-8")


def test_cli_options_reach_the_generators(runner, tmp_path):
    out = tmp_path / "dashboard.json"
    result = runner.invoke(
        cli, ["grafana-dashboard", "--prefix", "reviews", "--title", "Reviews", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stderr
    expected = grafana_dashboard("reviews", title="Reviews")
    assert json.loads(out.read_text()) == json.loads(dashboard_json(expected))

    rules_file = tmp_path / "rules.yml"
    result = runner.invoke(
        cli,
        [
            "prometheus-rules",
            "--prefix",
            "reviews",
            "--job",
            "reviews-api",
            "--model-name",
            "Reviews",
            "--no-predictions-minutes",
            "10",
            "--for-minutes",
            "2",
            "--output",
            str(rules_file),
        ],
    )
    assert result.exit_code == 0, result.output
    expected_rules = prometheus_rules(
        "reviews", job="reviews-api", model_name="Reviews", no_predictions_minutes=10, for_minutes=2
    )
    assert rules_file.read_text() == rules_yaml(expected_rules)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grafana-dashboard", "--prefix", "1bad"], "metrics_prefix"),
        (["grafana-dashboard", "--baseline", "baseline.json"], "reads each version"),
        (["prometheus-rules", "--model-name", "{{ x }}"], "model_name"),
        (["prometheus-rules", "-o", "/nonexistent-dir/rules.yml"], "cannot write"),
    ],
    ids=["prefix", "baseline", "template", "unwritable"],
)
def test_cli_errors_are_one_line(runner, args, message):
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_help_shows_the_defaults(runner):
    dashboard_help = runner.invoke(cli, ["grafana-dashboard", "--help"]).output
    rules_help = runner.invoke(cli, ["prometheus-rules", "--help"]).output
    assert DEFAULT_PREFIX in dashboard_help and DEFAULT_PREFIX in rules_help
    assert DEFAULT_JOB in rules_help


def test_estimated_quality_output_and_task_metrics_have_panels_of_their_own():
    dashboard = grafana_dashboard("m")
    panels = {p["title"]: p for p in dashboard["panels"]}
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows[-2:] == ["Multiclass models", "Regression models"]
    exprs = {t["expr"].split("{")[0] for p in dashboard["panels"] for t in p.get("targets", [])}
    for name in (
        "m_estimated_accuracy",
        "m_estimated_roc_auc",
        "m_estimated_performance_degraded",
        "m_prediction_drift_p_value",
        "m_data_missing_share",
        "m_data_schema_changes",
        "m_macro_f1",
        "m_class_recall",
        "m_mae",
        "m_r2",
    ):
        assert name in exprs, name
    selector = 'model=~"$model", version=~"$version", instance=~"$instance"'
    # an error metric degrades when it rises: its red line is above the baseline
    mae = [t["expr"] for t in panels["Mean absolute error"]["targets"]]
    assert mae[2] == (
        f'm_baseline{{metric="mae", {selector}}} * ignoring(metric) '
        f"(1 + m_performance_threshold{{{selector}}})"
    )
    assert panels["Mean absolute error"]["fieldConfig"]["defaults"]["unit"] == "short"
    r2 = [t["expr"] for t in panels["R²"]["targets"]]
    assert "(1 - m_performance_threshold" in r2[2]
    # per-column shares are told apart by their column label
    missing = panels["Missing values (share per column)"]["targets"][0]
    assert missing["legendFormat"].startswith("{{column}}")
    status = panels["Status history"]["targets"]
    assert [t["expr"].split("{")[0] for t in status][-2:] == [
        "m_estimated_performance_degraded",
        "m_prediction_drift_detected",
    ]
