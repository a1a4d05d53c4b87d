"""Registry model versions: ``models:/name/version`` and ``models:/name@alias`` URIs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["ModelRef", "parse_model_uri"]

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))$")


@dataclass(frozen=True)
class ModelRef:
    """A registry model version (``name``, ``version``) behind a ``models:/`` URI."""

    name: str
    version: str

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"


def parse_model_uri(model_uri: str, client: Any = None) -> ModelRef | None:
    """Resolve ``models:/name/version`` or ``models:/name@alias`` to a :class:`ModelRef`.

    Returns:
        The version, or None for other URIs (``runs:/``, local paths, logged-model ids).
    """
    match = _MODELS_URI.match(model_uri)
    if not match:
        return None
    name = match["name"]
    if match["version"]:
        return ModelRef(name, match["version"])
    if client is None:
        from mlflow import MlflowClient

        client = MlflowClient()
    version = client.get_model_version_by_alias(name, match["alias"])
    return ModelRef(name, str(version.version))
