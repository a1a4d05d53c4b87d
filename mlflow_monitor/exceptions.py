"""Exceptions raised by mlflow-monitor.

Every error the library raises on purpose derives from :class:`MonitorError`, so callers can
catch one type. Messages name the offending value and what was expected.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataValidationError",
    "FeedbackError",
    "MissingDependencyError",
    "MonitorError",
    "NotFittedError",
    "StateError",
    "StoreError",
    "UnknownPredictionError",
]


class MonitorError(Exception):
    """Root of every error raised by mlflow-monitor."""


class ConfigError(MonitorError, ValueError):
    """A configuration option has an unknown name, a wrong type or an out-of-range value."""


class DataValidationError(MonitorError, ValueError):
    """Features, predictions, probabilities or labels are not what the monitor expects."""


class NotFittedError(MonitorError, RuntimeError):
    """A component was used before it was given what it needs (reference data, a baseline)."""


class FeedbackError(MonitorError, ValueError):
    """Ground truth could not be attached to a prediction."""


class UnknownPredictionError(FeedbackError, KeyError):
    """Feedback names a prediction id the monitor has never seen (or has already forgotten)."""

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0]) if self.args else ""


class StateError(MonitorError):
    """A state file is missing, truncated, tampered with or of an unknown format."""


class StoreError(MonitorError):
    """The inference store cannot be used: unreachable, or its schema is of a newer version."""


class MissingDependencyError(MonitorError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""
