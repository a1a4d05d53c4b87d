"""The monitor: where recording, checks, metrics, tracking and triggers meet.

:class:`ModelMonitor` (:mod:`~mlflow_monitor.monitor.monitor`) records through its
:class:`~mlflow_monitor.monitor.recording.Recorder`, runs the checks of
:mod:`~mlflow_monitor.monitor.checks` on demand or on the schedule of
:mod:`~mlflow_monitor.monitor.scheduler`, reports its status (:mod:`~mlflow_monitor.monitor.status`)
and saves its state (:mod:`~mlflow_monitor.monitor.state`). Collaborators not given are built
from the config by :mod:`~mlflow_monitor.monitor.wiring`.
"""

from __future__ import annotations

from mlflow_monitor.monitor.monitor import ModelMonitor, create_monitor, load_monitor

__all__ = ["ModelMonitor", "create_monitor", "load_monitor"]
