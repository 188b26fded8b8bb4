"""Input scaling and irradiance target transforms as ``model.json`` declares them.

Two small contracts live here because other modules share them:

- :func:`parse_scaling`: the preprocessing helper's per-channel dict,
  ``x = (clip(T(img + offset), clip_min, clip_max) - mean) / std``, validated
  into :class:`monitor.preprocess.ChannelScaling` (which applies it).
- :class:`IrradianceLine`: one EVE line and its target transform
  ``z = (T(y) - mean) / std`` with ``y`` in W m^-2, with the inverse that turns
  network outputs into W m^-2.

Plus :class:`ManifestError` and the small validators the manifest parser uses,
so every error names the JSON key at fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from monitor.scaling import ChannelScaling

__all__ = ["TRANSFORMS", "ChannelScaling", "IrradianceLine", "ManifestError", "Transform",
           "need", "number", "parse_scaling"]

TRANSFORMS = ("log10", "sqrt", "linear")
_SCALING_KEYS = ("transform", "offset", "clip_min", "clip_max", "mean", "std")
Transform = Literal["log10", "sqrt", "linear"]


class ManifestError(ValueError):
    """``model.json`` content is invalid; ``key`` is the JSON path at fault."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


def need(data: Any, key: str, path: str, kind: type | tuple[type, ...]) -> Any:
    """``data[key]`` checked to be of ``kind``; errors name ``path.key``."""
    if not isinstance(data, dict):
        raise ManifestError(path, "must be an object")
    if key not in data:
        raise ManifestError(f"{path}.{key}" if path else key, "missing")
    value = data[key]
    where = f"{path}.{key}" if path else key
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = " or ".join(k.__name__ for k in kinds)
        raise ManifestError(where, f"must be {names}, got {value!r}")
    return value


def number(value: Any, where: str, allow_none: bool = False) -> float | None:
    """A finite number (or None when allowed); errors name ``where``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ManifestError(where, f"must be a finite number, got {value!r}")
    return float(value)


def parse_scaling(data: Any, where: str = "scaling") -> ChannelScaling:
    """One channel's scaling from ``model.json``, validated; errors name the JSON key.

    The class is the preprocessing helper's :class:`monitor.preprocess.ChannelScaling`
    (one class for the contract: it validates its values and applies them); this
    adds the manifest's stricter shape rules and key paths.
    """
    if not isinstance(data, dict):
        raise ManifestError(where, "must be an object")
    missing = [k for k in _SCALING_KEYS if k not in data]
    extra = sorted(set(data) - set(_SCALING_KEYS))
    if missing or extra:
        raise ManifestError(where, f"keys must be exactly {list(_SCALING_KEYS)}; "
                                   f"missing {missing}, unexpected {extra}")
    if data["transform"] not in TRANSFORMS:
        raise ManifestError(f"{where}.transform", f"must be one of {TRANSFORMS}")
    for key in ("offset", "mean", "std"):
        number(data[key], f"{where}.{key}")
    lo = number(data["clip_min"], f"{where}.clip_min", allow_none=True)
    hi = number(data["clip_max"], f"{where}.clip_max", allow_none=True)
    if not data["std"] > 0:
        raise ManifestError(f"{where}.std", "must be > 0")
    if lo is not None and hi is not None and lo >= hi:
        raise ManifestError(where, "clip_min must be < clip_max")
    try:
        return ChannelScaling.from_dict(data)
    except ValueError as exc:  # anything the class itself refuses
        raise ManifestError(where, str(exc)) from None


@dataclass(frozen=True)
class IrradianceLine:
    """One EVE line and its target transform ``z = (T(y) - mean) / std``."""

    ion: str
    wavelength_nm: float
    transform: Transform = "log10"
    mean: float = 0.0
    std: float = 1.0
    unit: str = "W m^-2"

    @property
    def name(self) -> str:
        """Display name, e.g. ``"Fe XVIII 9.39 nm"``."""
        return f"{self.ion} {self.wavelength_nm:.2f} nm"

    def inverse(self, z: np.ndarray | float) -> np.ndarray:
        """Network output (target space) -> irradiance in W m^-2."""
        t = np.asarray(z, dtype=np.float64) * self.std + self.mean
        if self.transform == "log10":
            return np.power(10.0, t)
        if self.transform == "sqrt":
            return np.square(np.maximum(t, 0.0))
        return t

    def forward(self, y: np.ndarray | float) -> np.ndarray:
        """Irradiance in W m^-2 -> target space (what training regresses)."""
        y = np.asarray(y, dtype=np.float64)
        if self.transform == "log10":
            t = np.log10(y)
        elif self.transform == "sqrt":
            t = np.sqrt(y)
        else:
            t = y
        return (t - self.mean) / self.std

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"ion": self.ion, "wavelength_nm": self.wavelength_nm, "unit": self.unit,
                "transform": self.transform, "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> IrradianceLine:
        """Validate and build one entry of ``outputs.irradiance.lines``."""
        transform = need(data, "transform", where, str)
        if transform not in TRANSFORMS:
            raise ManifestError(f"{where}.transform", f"must be one of {TRANSFORMS}")
        std = float(number(need(data, "std", where, float), f"{where}.std") or 0.0)
        if std <= 0:
            raise ManifestError(f"{where}.std", "must be > 0")
        return cls(
            ion=need(data, "ion", where, str),
            wavelength_nm=need(data, "wavelength_nm", where, float),
            transform=transform,  # type: ignore[arg-type]
            mean=need(data, "mean", where, float),
            std=std,
            unit=need(data, "unit", where, str),
        )
