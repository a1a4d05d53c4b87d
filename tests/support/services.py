"""What to do when a system service a test needs (PostgreSQL, Prometheus) is missing.

Outside CI such tests skip, naming what to install; in CI (``CI=true``) a missing service is
a failure, so a broken install step cannot hide behind skipped tests.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

__all__ = ["in_ci", "missing_service", "require_executable"]


def in_ci() -> bool:
    """True when the ``CI`` environment variable says so (``true``, ``1`` or ``yes``)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing_service(reason: str) -> NoReturn:
    """Skip the test with ``reason``, or fail it when running in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: required services must be installed by .ci/run)")
    pytest.skip(reason)


def require_executable(name: str, package: str, *candidates: str) -> str:
    """Path of an executable (on PATH or at one of ``candidates``), else skip or fail."""
    found = shutil.which(name)
    if found:
        return found
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    missing_service(f"{name} not found: install the Debian package {package!r}")
