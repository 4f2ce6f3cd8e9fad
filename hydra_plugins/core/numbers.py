"""Reading a number that may be missing: None, NaN, infinite or not a number at all."""

from __future__ import annotations

import math
from typing import Any


def finite(value: Any) -> float | None:
    """Return ``value`` as a finite float, or None when it is missing or not a finite number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
