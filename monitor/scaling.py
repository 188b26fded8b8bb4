"""The model's input scaling, per channel, exactly as the model package states it.

A model package's ``model.json`` carries one dict per input channel::

    {"transform": "log10" | "sqrt" | "linear", "offset": float,
     "clip_min": float | null, "clip_max": float | null,
     "mean": float, "std": float}

and the network sees ``x = (clip(T(img + offset), clip_min, clip_max) - mean) / std``
with the clip bounds in the transformed space. ``img`` is DN/s per 0.6" pixel
on the model grid (what :func:`monitor.preprocess.preprocess` returns).

Arguments of log10/sqrt below their domain (negative count rates from noise)
are raised to the domain edge before the transform -- to ``10**clip_min`` for
log10 when a lower clip is given (the clip would map them there anyway), to
the smallest positive float32 otherwise, and to 0 for sqrt -- so the output is
finite for every finite input.

It is a top-level module, next to :mod:`monitor.grid`, because two packages
share it: :mod:`monitor.preprocess` applies it and :mod:`monitor.models` reads
it from ``model.json``. Neither pulls in the other through it, so loading a
model package (a GPU host, the export command) never imports the FITS reader.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["ChannelScaling", "apply_scaling"]

_KEYS = ("transform", "offset", "clip_min", "clip_max", "mean", "std")
_TINY = float(np.finfo(np.float32).tiny)


@dataclass(frozen=True)
class ChannelScaling:
    """Scaling of one input channel (module docstring).

    Attributes
    ----------
    transform : {"log10", "sqrt", "linear"}
    offset : float
        Added to the image before the transform.
    clip_min, clip_max : float or None
        Bounds in the transformed space.
    mean, std : float
        Standardisation after clipping; ``std > 0``.
    """

    transform: Literal["log10", "sqrt", "linear"] = "linear"
    offset: float = 0.0
    clip_min: float | None = None
    clip_max: float | None = None
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        if self.transform not in ("log10", "sqrt", "linear"):
            raise ValueError(f"transform must be log10, sqrt or linear, got {self.transform!r}")
        for name in ("offset", "mean", "std"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite")
        if not self.std > 0:
            raise ValueError(f"std must be > 0, got {self.std}")
        for name in ("clip_min", "clip_max"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be finite or null")
        if (self.clip_min is not None and self.clip_max is not None
                and self.clip_min > self.clip_max):
            raise ValueError(f"clip_min {self.clip_min} > clip_max {self.clip_max}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChannelScaling:
        """Build from the model.json dict; unknown or missing keys are errors.

        Raises
        ------
        ValueError
            Naming the offending key.
        """
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise ValueError(f"unknown scaling keys {unknown}; expected {list(_KEYS)}")
        missing = [k for k in _KEYS if k not in data]
        if missing:
            raise ValueError(f"scaling keys missing: {missing}")

        def number(key: str, optional: bool = False) -> float | None:
            value = data[key]
            if value is None and optional:
                return None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                # ValueError like every other model.json problem (one except clause).
                raise ValueError(  # noqa: TRY004
                    f"scaling key {key!r} must be a number, got {value!r}")
            return float(value)

        return cls(transform=data["transform"], offset=number("offset"),  # type: ignore[arg-type]
                   clip_min=number("clip_min", True), clip_max=number("clip_max", True),
                   mean=number("mean"), std=number("std"))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """The model.json form (round-trips through :meth:`from_dict`)."""
        return {"transform": self.transform, "offset": self.offset, "clip_min": self.clip_min,
                "clip_max": self.clip_max, "mean": self.mean, "std": self.std}

    def _transformed(self, image: np.ndarray) -> np.ndarray:
        arg = np.asarray(image, dtype=np.float32) + np.float32(self.offset)
        if self.transform == "log10":
            floor = 10.0 ** self.clip_min if self.clip_min is not None else _TINY
            floor = max(float(np.float32(floor)), _TINY)
            return np.log10(np.maximum(arg, np.float32(floor)))
        if self.transform == "sqrt":
            return np.sqrt(np.maximum(arg, np.float32(0.0)))
        return arg

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Scaled float32 copy of ``image`` (any shape)."""
        t = self._transformed(image)
        if self.clip_min is not None or self.clip_max is not None:
            t = np.clip(t, self.clip_min, self.clip_max)
        return ((t - np.float32(self.mean)) / np.float32(self.std)).astype(np.float32)

    def invert(self, x: np.ndarray) -> np.ndarray:
        """Image (DN/s) that :meth:`apply` maps to ``x`` (clipped values stay at the bound)."""
        t = np.asarray(x, dtype=np.float64) * self.std + self.mean
        if self.transform == "log10":
            value = 10.0 ** t
        elif self.transform == "sqrt":
            value = t * t
        else:
            value = t
        return (value - self.offset).astype(np.float32)


def apply_scaling(frames: np.ndarray, scalings: Sequence[ChannelScaling]) -> np.ndarray:
    """Apply one :class:`ChannelScaling` per channel to a ``(C, N, N)`` stack.

    Raises
    ------
    ValueError
        When the number of scalings differs from the number of channels.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.shape[0] != len(scalings):
        raise ValueError(f"need (C, N, N) with C = {len(scalings)}, got {frames.shape}")
    out = np.empty(frames.shape, dtype=np.float32)
    for channel, scaling in enumerate(scalings):
        out[channel] = scaling.apply(frames[channel])
    return out
