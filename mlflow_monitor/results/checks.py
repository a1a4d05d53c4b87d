"""What one check did: its kind, status and results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlflow_monitor.results.clock import utcnow
from mlflow_monitor.results.drift import DriftResult, PredictionDrift
from mlflow_monitor.results.performance import PerformanceSnapshot
from mlflow_monitor.results.quality import DataQualityResult

__all__ = ["CheckResult"]


@dataclass(frozen=True)
class CheckResult:
    """What one on-demand or scheduled check did.

    Attributes:
        kind: ``"drift"`` or ``"performance"``.
        status: ``"ok"``, ``"drift"``, ``"degraded"`` or ``"skipped"``.
        drift: the drift result (drift checks that ran).
        performance: the performance snapshot (performance checks that ran).
        reason: why a check was skipped.
        triggered: whether the check fired a retraining trigger.
        timestamp: when the check finished (UTC).
        quality: drift checks that ran: the data quality of the tested window.
        prediction_drift: drift checks that ran, with reference outputs: the model's recent
            outputs against the reference's.
    """

    kind: str
    status: str
    drift: DriftResult | None = None
    performance: PerformanceSnapshot | None = None
    reason: str | None = None
    triggered: bool = False
    timestamp: datetime = field(default_factory=utcnow)
    quality: DataQualityResult | None = None
    prediction_drift: PredictionDrift | None = None

    @property
    def ran(self) -> bool:
        """True unless the check was skipped."""
        return self.status != "skipped"

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-serialisable dict."""
        return {
            "kind": self.kind,
            "status": self.status,
            "drift": self.drift.to_dict() if self.drift else None,
            "performance": self.performance.to_dict() if self.performance else None,
            "reason": self.reason,
            "triggered": self.triggered,
            "timestamp": self.timestamp.isoformat(),
            **({"quality": self.quality.to_dict()} if self.quality is not None else {}),
            **(
                {"prediction_drift": self.prediction_drift.to_dict()}
                if self.prediction_drift is not None
                else {}
            ),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        """Inverse of :meth:`to_dict`."""
        drift, performance = data.get("drift"), data.get("performance")
        quality, outputs = data.get("quality"), data.get("prediction_drift")
        return cls(
            kind=str(data["kind"]),
            status=str(data["status"]),
            drift=DriftResult.from_dict(drift) if drift else None,
            performance=PerformanceSnapshot.from_dict(performance) if performance else None,
            reason=data.get("reason"),
            triggered=bool(data.get("triggered", False)),
            timestamp=datetime.fromisoformat(str(data["timestamp"])),
            quality=DataQualityResult.from_dict(quality) if quality else None,
            prediction_drift=PredictionDrift.from_dict(outputs) if outputs else None,
        )
