from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlflow_monitor import create_monitor
from mlflow_monitor.cli import cli, main


def test_help_lists_commands(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "status" in result.output


def test_status_of_a_saved_state(runner, tmp_path):
    monitor = create_monitor({"metrics_prefix": "cli"})
    pid = monitor.record_prediction(1, 0.9)
    monitor.record_feedback(pid, 1)
    monitor.trigger_retraining("manual", {"by": "cli-test"})
    monitor.save_state(tmp_path / "s.npz")
    result = runner.invoke(cli, ["status", str(tmp_path / "s.npz")])
    assert result.exit_code == 0, result.output
    lines = {
        line.split("│")[0].strip(): line.split("│")[-1].strip()
        for line in result.output.splitlines()
    }
    assert lines["predictions"] == "1 in the store" and lines["labels"] == "1 in the store"
    assert lines["retraining triggers"] == "1"
    assert "manual" in result.output
    as_json = runner.invoke(cli, ["status", "--json", str(tmp_path / "s.npz")])
    assert json.loads(as_json.output)["counts"]["feedback"] == 1


def test_errors_are_one_line_without_traceback(runner, tmp_path):
    result = runner.invoke(cli, ["status", str(tmp_path / "missing.npz")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert "Traceback" not in result.output


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "mlflow_monitor.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0 and "Usage" in out.stdout


@pytest.mark.parametrize(
    ("drift", "performance", "code"),
    [
        ("ok", "ok", 0),
        ("drift", "ok", 3),
        ("ok", "degraded", 4),
        ("drift", "degraded", 5),
        ("skipped", "skipped", 0),
    ],
    ids=["nothing", "drift", "degraded", "both", "skipped"],
)
def test_check_exit_codes(drift, performance, code):
    from mlflow_monitor.cli.exit_codes import check_exit_code

    assert check_exit_code(drift, performance) == code


def test_a_monitor_error_ends_the_command_with_exit_code_2_and_its_cause():
    from mlflow_monitor.cli.exit_codes import MonitorClickError, reported
    from mlflow_monitor.exceptions import ConfigError

    cause = ConfigError("drift_p_value must be in (0, 1), got 2")
    with pytest.raises(MonitorClickError) as caught, reported():
        raise cause
    assert caught.value.exit_code == 2
    assert caught.value.message == str(cause) and caught.value.__cause__ is cause
    with pytest.raises(ValueError), reported():  # not a MonitorError: passes through
        raise ValueError("x")


def test_the_console_script_entry_point_is_main():
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="mlflow-monitor")
    assert script.value == "mlflow_monitor.cli:main"
    assert script.load() is main


def test_status_of_a_state_file_opens_no_store_it_names(runner, tmp_path, monkeypatch):
    """A state file restores monitoring data only (issue #16): the saved store_uri is not
    opened; every store that is opened is closed."""
    from mlflow_monitor import create_monitor
    from mlflow_monitor.store.sql.store import SqlInferenceStore

    uri = f"sqlite:///{tmp_path}/inference.db"
    monitor = create_monitor({"store_uri": uri, "enable_prometheus": False})
    monitor.record_prediction(1, 0.9)
    monitor.save_state(tmp_path / "state.npz")
    monitor.close()
    opened, closed = [], []
    original_init, original_close = SqlInferenceStore.__init__, SqlInferenceStore.close

    def spy_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        opened.append(self)

    def spy_close(self, *args, **kwargs):
        closed.append(self)
        original_close(self, *args, **kwargs)

    monkeypatch.setattr(SqlInferenceStore, "__init__", spy_init)
    monkeypatch.setattr(SqlInferenceStore, "close", spy_close)
    result = runner.invoke(cli, ["status", str(tmp_path / "state.npz")])
    assert result.exit_code == 0, result.output
    assert not opened and not closed


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (600.0, "600"),
        (3, "3"),
        (0.98412, "0.984"),
        (0.00012, "0.00012"),
        (None, "\u2013"),
        (float("nan"), "\u2013"),
        (True, "yes"),
        ("", "\u2013"),
    ],
    ids=["whole-float", "int", "float", "small", "none", "nan", "bool", "empty"],
)
def test_table_cells_read_as_numbers(value, shown):
    from mlflow_monitor.cli.tables import cell

    assert cell(value) == shown
