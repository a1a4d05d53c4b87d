"""The generated dashboard against Grafana's published dashboard schema.

No Grafana server can run here (neither Debian nor npm ships one), so the dashboard is read
with the models of ``grafana-foundation-sdk``, which Grafana generates from its published
dashboard schema (the Grafana 11.6 build is pinned): every key the dashboard holds must be a
field of the schema, and every enumerated field one of the schema's values. The keys Grafana
itself writes outside the schema are listed, each with its reason.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from grafana_foundation_sdk.models import dashboard as schema

from mlflow_monitor.metrics.grafana import grafana_dashboard

# Keys outside the schema that Grafana reads, by the path they are found at.
OUTSIDE_THE_SCHEMA = {
    # what Grafana's "export for sharing externally" writes, and its import dialog reads
    "/__inputs",
    "/__requires",
    # a Prometheus annotation query's options, read by the Prometheus data source
    "/annotations/list/step",
    "/annotations/list/titleFormat",
    "/annotations/list/textFormat",
    "/annotations/list/tagKeys",
    "/annotations/list/useValueForTime",
    # the query text Grafana's variable editor shows (it writes it on every save)
    "/templating/list/definition",
}


def _plain(value: Any) -> Any:
    """A schema model written back as JSON values."""
    return json.loads(
        json.dumps(value, default=lambda o: o.to_json() if hasattr(o, "to_json") else o.value)
    )


def _lost(given: Any, read: Any, path: str = "") -> set[str]:
    """Paths of the keys in ``given`` that reading it with the schema dropped."""
    lost: set[str] = set()
    if isinstance(given, dict):
        for key, value in given.items():
            if value is None:
                continue  # the schema writes an unset field by leaving it out
            if not isinstance(read, dict) or key not in read:
                lost.add(f"{path}/{key}")
            else:
                lost |= _lost(value, read[key], f"{path}/{key}")
    elif isinstance(given, list):
        assert isinstance(read, list) and len(read) == len(given), path
        for item, item_read in zip(given, read, strict=True):
            lost |= _lost(item, item_read, path)
    return lost


@pytest.mark.parametrize("prefix", ["fake_review_detection", "team:reviews_v2"])
def test_every_key_is_in_grafanas_dashboard_schema(prefix):
    dashboard = grafana_dashboard(prefix)
    read = _plain(schema.Dashboard.from_json(dashboard).to_json())
    assert _lost(dashboard, read) == OUTSIDE_THE_SCHEMA


def test_a_key_outside_the_schema_is_caught():
    dashboard = grafana_dashboard()
    dashboard["panels"][1]["gridPos"]["width"] = 4  # Grafana's key is "w"
    read = _plain(schema.Dashboard.from_json(dashboard).to_json())
    assert "/panels/gridPos/width" in _lost(dashboard, read)


def test_enumerated_fields_hold_the_schemas_values():
    dashboard = grafana_dashboard()
    schema.DashboardCursorSync(dashboard["graphTooltip"])
    for variable in dashboard["templating"]["list"]:
        schema.VariableType(variable["type"])
        schema.VariableHide(variable["hide"])
        schema.VariableRefresh(variable["refresh"])
        if "sort" in variable:
            schema.VariableSort(variable["sort"])
    for panel in dashboard["panels"]:
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        if "thresholds" in defaults:
            schema.ThresholdsMode(defaults["thresholds"]["mode"])
        if "color" in defaults:
            schema.FieldColorModeId(defaults["color"]["mode"])
        for mapping in defaults.get("mappings", []):
            schema.MappingType(mapping["type"])
        for override in panel.get("fieldConfig", {}).get("overrides", []):
            assert override["matcher"]["id"] in {"byName", "byRegexp", "byFrameRefID"}
