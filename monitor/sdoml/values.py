"""Parsing the per-image attribute lists and EVE time strings of SDOML stores.

SDOML keeps every FITS header value as written by sunpy: numbers as JSON
numbers, missing ones as the *string* ``'nan'``, times as ISO strings
(AIA ``T_OBS`` ``'2010-08-01T00:00:09.57Z'``, EVE ``Time``
``'2010-05-01 00:00:10.484'``). Both parsers are vectorised with a per-element
fallback, so one odd value costs a slow pass, never the whole list.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["parse_numbers", "parse_times"]

_TIME = re.compile(r"^\s*(\d{4})[-.](\d\d)[-.](\d\d)[T _](\d\d):(\d\d):(\d\d)(\.\d*)?")


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def parse_numbers(values: Sequence[Any]) -> np.ndarray:
    """float64 array; ``'nan'``, ``None``, text and other non-numbers become NaN."""
    try:
        return np.asarray(values, dtype=object).astype(np.float64)
    except (TypeError, ValueError):
        return np.array([_number(v) for v in values], dtype=np.float64)


def _one_time(value: Any) -> float:
    match = _TIME.match(str(value))
    if match is None:
        return math.nan
    year, month, day, hour, minute, sec = (int(g) for g in match.groups()[:6])
    frac = float(match.group(7) or 0.0)
    # A leap second (23:59:60.x) is kept inside its minute.
    second = min(sec + frac, 59.999)
    try:
        base = np.datetime64(f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}", "s")
    except ValueError:
        return math.nan
    return float(base.astype(np.int64)) + second


def parse_times(values: Sequence[Any]) -> np.ndarray:
    """UTC POSIX seconds (float64); anything unparseable is NaN.

    Accepts ``YYYY-MM-DDTHH:MM:SS[.fff][Z]`` and the space-separated form.
    """
    if len(values) == 0:
        return np.zeros(0, np.float64)
    try:
        text = np.asarray(values, dtype=str)
        text = np.char.rstrip(np.char.strip(text), "Z")
        stamps = text.astype("datetime64[us]")
        out = stamps.astype(np.int64).astype(np.float64) / 1e6
        out[np.isnat(stamps)] = math.nan
        return out
    except (TypeError, ValueError):
        return np.array([_one_time(v) for v in values], dtype=np.float64)
