"""The generated Prometheus rules and dashboard queries, checked and unit-tested with
promtool (input series -> alerts that must fire) and run by a real Prometheus.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from mlflow_monitor.metrics.alerts import ALERTS, DEFAULT_JOB, prometheus_rules, rules_yaml
from mlflow_monitor.metrics.grafana import (
    DEFAULT_PREFIX,
    grafana_dashboard,
    metric_names,
)
from mlflow_monitor.metrics.prometheus import (
    MonitorMetrics,
    start_metrics_server,
)
from tests.support.dashboards import DEPLOYED_RULES, panel_exprs, rule_list
from tests.support.http import http_json
from tests.support.ports import free_port
from tests.support.prometheus import PrometheusServer
from tests.support.services import require_executable

ODD_NAMES = "Fake reviews (v2) \"blue\" 'prod' \t\x07 \u2018ü\u2019 😀 # : - [x]"


@pytest.fixture
def promtool() -> str:
    return require_executable("promtool", "prometheus", "/usr/bin/promtool")


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"prefix": "team:reviews_v2", "job": ODD_NAMES, "model_name": ODD_NAMES, "for_minutes": 1},
    ],
    ids=["default", "odd-names"],
)
def test_promtool_accepts_the_rules(promtool, tmp_path, kwargs):
    path = tmp_path / "rules.yml"
    path.write_text(rules_yaml(prometheus_rules(**kwargs)), encoding="utf-8")
    out = run(promtool, "check", "rules", str(path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in out.stdout


def test_promtool_parses_every_panel_query(promtool, tmp_path):
    """Each panel query, its Grafana variables filled in, is valid PromQL (as a recording rule)."""
    dashboard = grafana_dashboard("reviews")
    exprs = panel_exprs(dashboard) + [a["expr"] for a in dashboard["annotations"]["list"][1:]]
    for variable, value in FILLED.items():
        exprs = [e.replace(variable, value) for e in exprs]
    assert "$" not in "".join(exprs)
    records = [{"record": f"panel:query{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "panels.yml"
    path.write_text(rules_yaml({"groups": [{"name": "panels", "rules": records}]}))
    out = run(promtool, "check", "rules", str(path))
    assert out.returncode == 0, out.stdout + out.stderr


# Grafana's variables as a dashboard showing everything fills them in.
FILLED = {
    "$__rate_interval": "1m",
    "$__range": "1h",
    "$instance": ".*",
    "$model": ".*",
    "$version": ".*",
}


def alert_cases(prefix: str, job: str, rules: dict) -> dict:
    """promtool unit tests: input series and the alerts that must (not) fire at given times."""
    names = metric_names(prefix)
    by_name = {r["alert"]: r for r in rule_list(rules)}
    quoted_job = json.dumps(job)

    def series(suffix: str, instance: str | None, values: str) -> dict:
        name = "up" if suffix == "up" else names[suffix]
        where = f",instance={json.dumps(instance)}" if instance else ""
        return {"series": f"{name}{{job={quoted_job}{where}}}", "values": values}

    def fired(alert: str, instance: str | None = None) -> dict:
        rule = by_name[alert]
        labels = {"job": job, **({"instance": instance} if instance else {}), **rule["labels"]}
        annotations = {
            k: v.replace("{{ $labels.instance }}", instance or "").replace("{{ $labels.job }}", job)
            for k, v in rule["annotations"].items()
        }
        return {"exp_labels": labels, "exp_annotations": annotations}

    def at(minutes: int, alert: str, *expected: dict) -> dict:
        return {"eval_time": f"{minutes}m", "alertname": alert, "exp_alerts": list(expected)}

    a, b = "a:8000", "b:8000"
    traffic = {
        "interval": "1m",
        "input_series": [
            series("up", a, "1x60"),
            series("drift_detected", a, "0 0 1x58"),  # drift from 2m
            series("performance_degraded", a, "0x20 1x40"),  # degraded from 20m
            series("predictions", a, "0+10x20 200x40"),  # no traffic after 20m
            series("retraining_triggered", a, "0x10 1x50"),  # a trigger at 11m
            series("monitoring_status", a, "1x60"),
            series("up", b, "1x10 0x50"),  # b is down from 11m
            series("predictions", b, "5x10 _x50"),  # and idle before
            series("monitoring_status", b, "0x10 _x50"),  # and never ran the checks
            series("records_dropped", a, "0x30 25x30"),  # 25 records dropped at 31m
        ],
        "alert_rule_test": [
            at(5, "DriftDetected"),  # pending: `for` has not passed yet
            at(10, "DriftDetected", fired("DriftDetected", a)),
            at(22, "PerformanceDegraded"),
            at(30, "PerformanceDegraded", fired("PerformanceDegraded", a)),
            at(8, "NoPredictions", fired("NoPredictions", b)),  # up but idle
            at(30, "NoPredictions"),  # b is down: MonitorDown, not NoPredictions
            at(45, "NoPredictions"),  # a: 25 of 30 minutes silent
            at(58, "NoPredictions", fired("NoPredictions", a)),
            at(14, "MonitorDown"),
            at(20, "MonitorDown", fired("MonitorDown", b)),
            at(30, "MonitoringStopped"),  # a runs the checks for the job
            at(10, "RetrainingTriggered"),
            at(15, "RetrainingTriggered", fired("RetrainingTriggered", a)),
            at(40, "RetrainingTriggered"),
            at(30, "RecordsDropped"),
            at(33, "RecordsDropped", fired("RecordsDropped", a)),
            at(50, "RecordsDropped"),  # more than 15 minutes ago
        ],
    }
    stopped = {
        "interval": "1m",
        "input_series": [
            series("up", a, "1x20"),
            series("monitoring_status", a, "0x20"),
            series("monitoring_status", b, "0x20"),
        ],
        "alert_rule_test": [
            at(3, "MonitoringStopped"),
            at(10, "MonitoringStopped", fired("MonitoringStopped")),
        ],
    }
    return {"evaluation_interval": "1m", "tests": [traffic, stopped]}


@pytest.mark.parametrize(
    ("prefix", "job", "model"),
    [(DEFAULT_PREFIX, DEFAULT_JOB, None), ("team:reviews_v2", 'api "blue" ü', "Reviews (v2)")],
    ids=["deployed-file", "custom"],
)
def test_promtool_unit_tests_show_the_alerts_fire(promtool, tmp_path, prefix, job, model):
    rules = prometheus_rules(prefix, job=job, model_name=model)
    if model is None:
        rules_file = DEPLOYED_RULES  # the committed file, proven to fire
    else:
        rules_file = tmp_path / "rules.yml"
        rules_file.write_text(rules_yaml(rules), encoding="utf-8")
    unit = tmp_path / "unit.yml"
    cases = alert_cases(prefix, job, rules)
    unit.write_text(yaml.safe_dump({"rule_files": [str(rules_file)], **cases}, allow_unicode=True))
    out = run(promtool, "test", "rules", str(unit))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_promtool_unit_tests_catch_a_rule_that_never_fires(promtool, tmp_path):
    rules = prometheus_rules()
    rule_list(rules)[0]["expr"] = rule_list(rules)[0]["expr"].replace("== 1", "== 2")
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(rules_yaml(rules))
    unit = tmp_path / "unit.yml"
    cases = alert_cases(DEFAULT_PREFIX, DEFAULT_JOB, rules)
    unit.write_text(yaml.safe_dump({"rule_files": [str(rules_file)], **cases}))
    out = run(promtool, "test", "rules", str(unit))
    assert out.returncode != 0
    assert "DriftDetected" in out.stdout + out.stderr


# Not a prefix with ':' (which metrics_prefix allows): promtool's lint reserves colons for
# recording rules and reports every name.
@pytest.mark.parametrize("prefix", [DEFAULT_PREFIX, "reviews_v2"], ids=["default", "other"])
def test_promtool_accepts_the_exposition(promtool, prefix):
    fresh = MonitorMetrics(prefix).exposition()
    used = MonitorMetrics(prefix)
    used.count_predictions(5)
    used.count_feedback(2)
    used.count_trigger()
    used.set_monitoring(True)
    used["drift_p_value"].set(0.01)
    used["precision"].set(0.9)
    for exposition in (fresh, used.exposition()):
        out = run(promtool, "check", "metrics", input=exposition.decode())
        assert out.returncode == 0 and not out.stdout + out.stderr, out.stdout + out.stderr


class RulesPrometheus(PrometheusServer):
    """The tests' private Prometheus, with a rule file loaded."""

    def __init__(self, root: Path, targets: list[str], job: str, rules_file: Path) -> None:
        super().__init__(root, targets, job=job)
        self.rules_file = rules_file

    def command(self) -> list[str]:
        command = super().command()
        config = self.root / "prometheus.yml"
        settings = json.loads(config.read_text())
        config.write_text(json.dumps({**settings, "rule_files": [str(self.rules_file)]}))
        return command


def test_a_real_prometheus_runs_the_rules_and_the_panel_queries(tmp_path):
    """Scraping a monitor and a dead target: rules load, conditions go active, panels answer."""
    monitored = MonitorMetrics("reviews", model="reviews", version="2")
    monitored.set_levels(drift_p_value=0.05, performance_threshold=0.1)
    monitored.set_baseline({"precision": 0.9})
    monitored.set_monitoring(True)
    monitored.count_predictions(10)  # and then no more: NoPredictions
    monitored["drift_detected"].set(1)
    monitored["precision"].set(0.8)
    server, _ = start_metrics_server(monitored, port=0)
    live, dead = f"127.0.0.1:{server.server_port}", f"127.0.0.1:{free_port()}"
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(rules_yaml(prometheus_rules("reviews", job="reviews-api")))
    try:
        with RulesPrometheus(tmp_path / "p", [live, dead], "reviews-api", rules_file) as prom:

            def states() -> dict[str, tuple[str, str]]:
                groups = http_json(f"{prom.uri}/api/v1/rules")["data"]["groups"]
                return {r["name"]: (r["health"], r["state"]) for g in groups for r in g["rules"]}

            active = {"DriftDetected", "NoPredictions", "MonitorDown"}
            deadline = time.monotonic() + 60
            while {n for n, (_, state) in states().items() if state != "inactive"} != active:
                assert time.monotonic() < deadline, states()
                time.sleep(0.5)
            assert {health for health, _ in states().values()} == {"ok"}

            dashboard = grafana_dashboard("reviews")
            answers = {}
            for panel in dashboard["panels"]:
                for target in panel.get("targets", []):
                    expr = target["expr"]
                    for variable, value in FILLED.items():
                        expr = expr.replace(variable, value)
                    result = prom.query(expr)  # asserts the query succeeded
                    values = [float(sample["value"][1]) for sample in result]
                    answers[panel["title"], target["refId"]] = values
            assert answers["Precision", "A"] == [0.8]
            assert answers["Precision", "B"] == [0.9]  # the baseline, from its gauge
            assert answers["Precision", "C"] == [pytest.approx(0.81)]  # 10% below it
            assert answers["Drift p-value", "B"] == [0.05]  # the threshold
            # what the model and version variables list (label_values over the probe metric)
            probe = "match[]=reviews_monitoring_status"
            for label, expected in (("model", ["reviews"]), ("version", ["2"])):
                found = http_json(f"{prom.uri}/api/v1/label/{label}/values?{probe}")["data"]
                assert found == expected, label
            assert answers["Drift", "A"] == answers["Monitoring", "A"] == [1.0]
            assert answers["Performance", "A"] == [0.0]
    finally:
        server.shutdown()
        server.server_close()
