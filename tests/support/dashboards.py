"""What the dashboard and alert-rule tests share: the files committed under ``deploy/`` and
walking a dashboard's queries and a rule file's rules."""

from __future__ import annotations

from tests.support.paths import REPO

__all__ = ["DEPLOYED_DASHBOARD", "DEPLOYED_RULES", "panel_exprs", "rule_list"]

DEPLOYED_DASHBOARD = REPO / "deploy" / "grafana" / "mlflow-monitor-dashboard.json"
DEPLOYED_RULES = REPO / "deploy" / "prometheus" / "mlflow-monitor-rules.yml"


def panel_exprs(dashboard: dict) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def rule_list(rules: dict) -> list[dict]:
    return [rule for group in rules["groups"] for rule in group["rules"]]
