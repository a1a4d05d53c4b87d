"""What the model registry says about monitoring: tags, descriptions, links.

A monitored version and the version it wraps carry:

- the baseline metrics as ``baseline.<metric>`` tags, and links between the two
  (``mlflow_monitor.inner_model_uri`` on the monitored version, ``mlflow_monitor.monitored``
  on the inner one);
- after every logged check, ``mlflow_monitor.last_check``: the check's verdict in words
  (``drift ✗ p=0.0099 · 2026-12-03 11:26 UTC``);
- a section of their Markdown description, kept by mlflow-monitor between two HTML comments
  (the rest of the description is the user's and stays as it is): what monitors the version,
  links to its history run and to the report of its latest check, and, for a version made
  by a retraining run, which check made it and why; a version that was replaced says by
  which version.

Links are relative to the MLflow UI (``#/experiments/<id>/runs/<run>``), so they work on any
server and in ``mlflow ui``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "BASELINE_TAG_PREFIX",
    "TAG_CHECK_RUN",
    "TAG_INNER_URI",
    "TAG_LAST_CHECK",
    "TAG_MONITORED",
    "TAG_REPLACED_BY",
    "TAG_TRIGGER_DETAILS",
    "TAG_TRIGGER_REASON",
    "check_link",
    "note_check",
    "note_wrapped",
    "retraining_sentence",
    "run_link",
    "section_of",
    "set_section",
]

logger = logging.getLogger(__name__)

BASELINE_TAG_PREFIX = "baseline."
TAG_INNER_URI = "mlflow_monitor.inner_model_uri"  # on a monitored version: what it wraps
TAG_MONITORED = "mlflow_monitor.monitored"  # on an inner version: its monitored version
TAG_LAST_CHECK = "mlflow_monitor.last_check"
TAG_REPLACED_BY = "mlflow_monitor.replaced_by"
# Set on a version by the retraining project run that registered it.
TAG_TRIGGER_REASON = "mlflow_monitor.trigger_reason"
TAG_TRIGGER_DETAILS = "mlflow_monitor.trigger_details"
TAG_CHECK_RUN = "mlflow_monitor.check_run_id"

_START = "<!-- mlflow-monitor: start -->"
_END = "<!-- mlflow-monitor: end -->"
_SECTION = re.compile(re.escape(_START) + r".*?" + re.escape(_END), re.DOTALL)
_REASONS = {
    "data_drift": "the data-drift check found drift",
    "performance_degradation": "the performance check found degradation",
    "manual": "retraining was requested by hand",
}


def run_link(experiment_id: str, run_id: str) -> str:
    """A link to a run, relative to the MLflow UI."""
    return f"#/experiments/{experiment_id}/runs/{run_id}"


def check_link(experiment_id: str, run_id: str) -> str:
    """A link to a check run's ``report.html`` in the MLflow UI's artifact view."""
    return f"{run_link(experiment_id, run_id)}/artifacts/report.html"


def set_section(client: Any, name: str, version: str, markdown: str) -> None:
    """Put ``markdown`` in mlflow-monitor's section of a version's description.

    The section is replaced when there is one, else appended; the user's text stays.
    """
    current = client.get_model_version(name, version).description or ""
    block = f"{_START}\n{markdown.strip()}\n{_END}"
    if _SECTION.search(current):
        text = _SECTION.sub(lambda _: block, current, count=1)
    else:
        text = f"{current.rstrip()}\n\n{block}" if current.strip() else block
    if text != current:
        client.update_model_version(name, version, description=text)


def section_of(description: str | None) -> str:
    """The text of mlflow-monitor's section of a description ("" when there is none)."""
    found = _SECTION.search(description or "")
    return "" if found is None else found.group(0)[len(_START) : -len(_END)].strip()


def retraining_sentence(tags: Mapping[str, str]) -> str:
    """In words, why a retraining run made a version (from its trigger tags); "" when the
    version was not made by one."""
    reason = tags.get(TAG_TRIGGER_REASON)
    if not reason:
        return ""
    why = _REASONS.get(reason, f"a trigger fired ({reason})")
    try:
        details = json.loads(tags.get(TAG_TRIGGER_DETAILS) or "{}")
    except json.JSONDecodeError:
        details = {}
    facts = []
    if isinstance(details, dict):
        if details.get("p_value") is not None:
            facts.append(f"p = {float(details['p_value']):.3g}")
        columns = details.get("drifted_features")
        if columns:
            facts.append("drifted columns: " + ", ".join(str(c) for c in list(columns)[:8]))
        degraded = details.get("degraded_metrics")
        if isinstance(degraded, dict) and degraded:
            facts.append(
                ", ".join(f"{k} {100 * float(v):.1f}% below baseline" for k, v in degraded.items())
            )
    sentence = f"Made by a retraining run after {why}"
    if facts:
        sentence += f" ({'; '.join(facts)})"
    check = tags.get(TAG_CHECK_RUN)
    if check:
        sentence += f"; check run `{check}`"
    return sentence + "."


def _monitored_versions(client: Any, name: str, version: str) -> list[tuple[str, str]]:
    """The version a stream stands for and the monitored versions wrapping it."""
    from mlflow.exceptions import MlflowException

    try:
        inner = client.get_model_version(name, version)
    except MlflowException:
        return []  # the stream is not a registered version (an engine-only monitor)
    found = [(name, version)]
    monitored = (inner.tags or {}).get(TAG_MONITORED, "")
    match = re.match(r"^models:/(?P<name>[^/]+)/(?P<version>\d+)$", monitored)
    if match and (match["name"], match["version"]) != (name, version):
        found.append((match["name"], match["version"]))
    return found


def note_check(
    client: Any,
    name: str,
    version: str,
    *,
    verdict: str,
    experiment_id: str,
    history_run_id: str,
    check_run_id: str,
) -> bool:
    """After a check was logged: tag and describe the stream's registry versions.

    Args:
        client: an ``MlflowClient``.
        name, version: the monitored stream (the inner model's registered version).
        verdict: the check in words (its run name).
        experiment_id, history_run_id, check_run_id: where the links go.

    Returns:
        Whether any registry version was updated (False when the stream is not registered).
    """
    versions = _monitored_versions(client, name, version)
    for model, number in versions:
        client.set_model_version_tag(model, number, TAG_LAST_CHECK, verdict)
        tags = dict(client.get_model_version(model, number).tags or {})
        lines = [
            f"**Monitored by mlflow-monitor.** Latest check: {verdict} "
            f"([report]({check_link(experiment_id, check_run_id)}), "
            f"[all checks: history run]({run_link(experiment_id, history_run_id)})).",
        ]
        retrained = retraining_sentence(tags)
        if retrained:
            lines.append(retrained)
        replaced = tags.get(TAG_REPLACED_BY)
        if replaced:
            lines.append(f"Replaced by `{replaced}`.")
        set_section(client, model, number, "\n\n".join(lines))
    return bool(versions)


def _replaced_stream(client: Any, tags: Mapping[str, str]) -> tuple[str, str] | None:
    """The version whose check made a retrained version: the check run's stream."""
    from mlflow.exceptions import MlflowException

    check = tags.get(TAG_CHECK_RUN)
    if not check:
        return None
    try:
        run_tags = client.get_run(check).data.tags
    except MlflowException:
        return None
    name, version = (
        run_tags.get("mlflow_monitor.model_name"),
        run_tags.get("mlflow_monitor.model_version"),
    )
    return (name, version) if name and version else None


def note_wrapped(
    client: Any,
    monitored: tuple[str, str],
    inner: tuple[str, str] | None,
    experiment_name: str,
) -> None:
    """After ``wrap``: describe the monitored version (and the one it wraps), and mark the
    version a retraining run replaced.

    Args:
        client: an ``MlflowClient``.
        monitored: name and version of the new monitored version.
        inner: name and version of the version it wraps, if registered.
        experiment_name: where its checks are logged.
    """
    name, version = monitored
    inner_tags = dict(client.get_model_version(*inner).tags or {}) if inner else {}
    wraps = f"models:/{inner[0]}/{inner[1]}" if inner else "a logged model"
    lines = [
        f"**Monitored by mlflow-monitor**: wraps `{wraps}`; its checks are logged as runs of "
        f"the experiment `{experiment_name}`. No check has run yet."
    ]
    retrained = retraining_sentence(inner_tags)
    if retrained:
        lines.append(retrained)
    text = "\n\n".join(lines)
    set_section(client, name, version, text)
    if inner is not None and inner != monitored:
        set_section(client, *inner, text)
    replaced = _replaced_stream(client, inner_tags) if inner else None
    if replaced is None or inner is None or replaced == inner:
        return
    successor = f"models:/{inner[0]}/{inner[1]}"
    for model, number in _monitored_versions(client, *replaced):
        client.set_model_version_tag(model, number, TAG_REPLACED_BY, successor)
        current = section_of(client.get_model_version(model, number).description)
        line = f"Replaced by `{successor}`."
        if line not in current:
            set_section(client, model, number, f"{current}\n\n{line}".strip())
