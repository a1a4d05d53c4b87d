"""Reading the values of a result's dictionary back (``from_dict``), the same in every kind.

A result's ``to_dict()`` holds plain JSON values: numbers that may be missing (``None``) and
maps of names to numbers. These helpers turn them back into the types the dataclasses hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["float_map", "optional_float"]


def optional_float(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing."""
    return None if value is None else float(value)


def float_map(values: Mapping[Any, Any] | None) -> dict[str, float]:
    """A map of names to numbers, with string keys and float values (None: empty)."""
    return {str(k): float(v) for k, v in (values or {}).items()}
