"""Retraining triggers: when to fire, whom to call, what happened.

A trigger has a reason (``"data_drift"``, ``"performance_degradation"``, ``"manual"`` or the
caller's own) and JSON-serialisable details. :class:`TriggerPolicy` applies a cooldown per
reason, so one incident seen by many consecutive checks fires once; manual triggers always
fire. Callbacks are called as ``callback(reason, details)``; one that raises is logged and
recorded in the event, and never stops the others or the monitor. A launcher that reports how
its runs end (:meth:`~mlflow_monitor.retraining.launcher.ProjectLauncher.add_listener`)
updates the event in :attr:`TriggerPolicy.history` when the run ends: ``retrain_status``
becomes its final status and a run that did not finish adds an entry to ``callback_errors``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from mlflow_monitor._types import Clock, storable_text
from mlflow_monitor.exceptions import ConfigError, DataValidationError
from mlflow_monitor.results import utcnow

__all__ = [
    "DATA_DRIFT",
    "DATA_QUALITY",
    "MANUAL",
    "PERFORMANCE_DEGRADATION",
    "TriggerEvent",
    "TriggerPolicy",
]

logger = logging.getLogger(__name__)

DATA_DRIFT = "data_drift"
DATA_QUALITY = "data_quality"  # a column's missing or unseen share above its configured limit
PERFORMANCE_DEGRADATION = "performance_degradation"
MANUAL = "manual"

Callback = Callable[[str, dict[str, Any]], None]
Launcher = Callable[[str, dict[str, Any]], "str | None"]


@dataclass(frozen=True)
class TriggerEvent:
    """One retraining trigger.

    Attributes:
        reason: why it fired.
        details: what the check saw (JSON-serialisable).
        timestamp: when it fired (UTC).
        fired: False when the cooldown suppressed it (callbacks were not called).
        callback_errors: ``"name: error"`` for each callback (or the launcher) that raised.
        retrain_run_id: MLflow run id of the retraining project run it launched, if any.
        retrain_status: that run's status: ``RUNNING`` when launched, then its final status
            (``FINISHED``, ``FAILED``, ``KILLED``) once it ended; None without a run.
    """

    reason: str
    details: dict[str, Any]
    timestamp: datetime
    fired: bool = True
    callback_errors: tuple[str, ...] = field(default_factory=tuple)
    retrain_run_id: str | None = None
    retrain_status: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the event as a JSON-serialisable dict."""
        return {
            "reason": self.reason,
            "details": self.details,
            "timestamp": self.timestamp.isoformat(),
            "fired": self.fired,
            "callback_errors": list(self.callback_errors),
            "retrain_run_id": self.retrain_run_id,
            "retrain_status": self.retrain_status,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TriggerEvent:
        """Rebuild an event saved with :meth:`to_dict`."""
        return cls(
            reason=str(data["reason"]),
            details=dict(data["details"]),
            timestamp=datetime.fromisoformat(str(data["timestamp"])),
            fired=bool(data.get("fired", True)),
            callback_errors=tuple(str(e) for e in data.get("callback_errors", [])),
            retrain_run_id=data.get("retrain_run_id"),
            retrain_status=data.get("retrain_status"),
        )


def _json_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    if details is None:
        return {}
    if not isinstance(details, Mapping):
        raise DataValidationError(f"details must be a dict, got {type(details).__name__}")
    try:
        text = json.dumps(dict(details), default=str, ensure_ascii=False)
        # Kept in the store and shown by every status: text no store can keep is refused.
        return dict(json.loads(storable_text(text, "details")))
    except (TypeError, ValueError, RecursionError) as exc:
        if isinstance(exc, DataValidationError):
            raise
        raise DataValidationError(f"details must be JSON-serialisable: {exc}") from exc


class TriggerPolicy:
    """Decides whether a trigger fires, runs the callbacks and keeps the history.

    Args:
        cooldown_minutes: after a trigger fires for a reason, further triggers for that reason
            are suppressed for this long (0 disables the cooldown).
        callbacks: called as ``callback(reason, details)`` on every fired trigger.
        clock: returns the current UTC time (tests pass a fake one).
        history_size: fired events kept, most recent last.
        launcher: called like a callback after them; returns the id of the retraining run
            it started (see :class:`~mlflow_monitor.retraining.launcher.ProjectLauncher`).
    """

    def __init__(
        self,
        cooldown_minutes: float = 60.0,
        callbacks: list[Callback] | None = None,
        clock: Clock = utcnow,
        history_size: int = 1000,
        launcher: Launcher | None = None,
    ) -> None:
        if not isinstance(cooldown_minutes, int | float) or cooldown_minutes < 0:
            raise ConfigError(f"cooldown_minutes must be a number >= 0, got {cooldown_minutes!r}")
        self.cooldown = timedelta(minutes=float(cooldown_minutes))
        self.callbacks: list[Callback] = []
        for callback in callbacks or []:
            self.add_callback(callback)
        self.clock = clock
        self.launcher = launcher
        self.history: deque[TriggerEvent] = deque(maxlen=history_size)
        self.suppressed = 0
        self._last_fired: dict[str, datetime] = {}
        self._lock = threading.Lock()
        # Called with the updated event when a launched retraining run ends.
        self.on_run_ended: Callable[[TriggerEvent], None] | None = None
        add_listener = getattr(launcher, "add_listener", None)
        if callable(add_listener):
            add_listener(self._run_ended)

    def add_callback(self, callback: Callback) -> None:
        """Register ``callback(reason, details)``, called on every fired trigger."""
        if not callable(callback):
            raise ConfigError(f"callback must be callable(reason, details), got {callback!r}")
        self.callbacks.append(callback)

    def note_fired(self, reason: str, when: datetime) -> None:
        """Count a trigger for ``reason`` that fired at ``when`` elsewhere (another process
        sharing the store), so that its cooldown applies here too."""
        with self._lock:
            last = self._last_fired.get(reason)
            if last is None or when > last:
                self._last_fired[reason] = when

    def note_stored(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Let the cooldown count triggers kept elsewhere (``TriggerEvent.to_dict()`` form,
        e.g. fired by other processes sharing a store); entries it cannot read are skipped."""
        for stored in events:
            try:
                if not stored.get("fired", True):
                    continue
                when = datetime.fromisoformat(str(stored["timestamp"]))
            except (KeyError, ValueError):
                continue
            if when.tzinfo is None:  # written without a zone: the monitor's times are UTC
                when = when.replace(tzinfo=UTC)
            self.note_fired(str(stored["reason"]), when)

    def in_cooldown(self, reason: str) -> bool:
        """True if a trigger for ``reason`` fired less than the cooldown ago."""
        last = self._last_fired.get(reason)
        return last is not None and self.clock() - last < self.cooldown

    def fire(
        self, reason: str, details: Mapping[str, Any] | None = None, force: bool = False
    ) -> TriggerEvent:
        """Fire a trigger unless its reason is cooling down.

        Args:
            reason: why retraining is wanted.
            details: JSON-serialisable context passed to the callbacks.
            force: ignore the cooldown (manual triggers).

        Returns:
            The event; ``fired`` is False when the cooldown suppressed it.
        """
        if not isinstance(reason, str) or not reason.strip():
            raise DataValidationError(f"reason must be a non-empty string, got {reason!r}")
        storable_text(reason, "reason")
        payload = _json_details(details)
        with self._lock:
            now = self.clock()
            if not force and self.in_cooldown(reason):
                self.suppressed += 1
                logger.info("trigger %r suppressed by cooldown", reason)
                return TriggerEvent(reason, payload, now, fired=False)
            self._last_fired[reason] = now
        errors = self._run_callbacks(reason, payload)
        run_id = None
        if self.launcher is not None:
            try:
                run_id = self.launcher(reason, dict(payload))
            except Exception as exc:
                logger.exception("launching the retraining run failed")
                errors += (f"launcher: {type(exc).__name__}: {exc}",)
        event = TriggerEvent(
            reason, payload, now, True, errors, run_id, None if run_id is None else "RUNNING"
        )
        with self._lock:
            self.history.append(event)
        logger.warning("retraining triggered: %s %s", reason, payload)
        return event

    def _run_ended(self, run_id: str, status: str) -> None:
        """Record how the retraining run a trigger launched ended."""
        ended = None
        with self._lock:
            for index in range(len(self.history) - 1, -1, -1):
                event = self.history[index]
                if event.retrain_run_id == run_id:
                    errors = event.callback_errors
                    if status != "FINISHED":
                        errors += (f"retraining run {run_id}: ended {status}",)
                    ended = replace(event, retrain_status=status, callback_errors=errors)
                    self.history[index] = ended
                    break
        hook = self.on_run_ended
        if ended is not None and hook is not None:
            try:
                hook(ended)
            except Exception:
                logger.exception("recording how retraining run %s ended failed", run_id)

    def _run_callbacks(self, reason: str, details: dict[str, Any]) -> tuple[str, ...]:
        errors: list[str] = []
        for callback in list(self.callbacks):
            name = getattr(callback, "__qualname__", repr(callback))
            try:
                callback(reason, dict(details))
            except Exception as exc:
                logger.exception("retraining callback %s failed", name)
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
        return tuple(errors)

    def get_state(self) -> dict[str, Any]:
        """History and cooldown clocks as JSON-serialisable data."""
        with self._lock:
            return {
                "history": [e.to_dict() for e in self.history],
                "last_fired": {k: v.isoformat() for k, v in self._last_fired.items()},
                "suppressed": self.suppressed,
            }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_state` returned."""
        with self._lock:
            self.history.clear()
            self.history.extend(TriggerEvent.from_dict(e) for e in state.get("history", []))
            self._last_fired = {
                str(k): datetime.fromisoformat(str(v))
                for k, v in state.get("last_fired", {}).items()
            }
            self.suppressed = int(state.get("suppressed", 0))
