"""Ground truth records: what the Sun really did at each observation time.

One :class:`Truth` per observation time becomes one line of the run's
JSON-lines sidecar (``Truth.to_json``). Everything comes from the same
emission measure the images were drawn from: GOES XRS-B flux and class, the
14 EVE line irradiances and, for every flare, its kernels' positions.

Kernel positions are given three ways: 0-based pixel (x, y) in the image (the
file's grid, or the model grid for the dataset API), helioprojective
(Tx, Ty) in arcsec and Stonyhurst (lon, lat) in degrees. ``sigma`` is the
kernel's Gaussian extent. ``flux_share`` is the kernel's share of the flare's
visible emission summed over the seven AIA channels (DN/s), so the shares of
one flare add up to 1 unless all of it is hidden.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from monitor.synth.eve import EVE_LINES

__all__ = ["FlareKernel", "FlareTruth", "RegionTruth", "Truth", "iso_time"]


def iso_time(when: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.sssZ`` (UTC, milliseconds)."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _round(value: float, digits: int = 6) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


@dataclass(frozen=True)
class FlareKernel:
    """One flaring kernel in one frame.

    Parameters
    ----------
    kind : str
        ``"loop_top"`` (the hot source that dominates XRS-B, 94 and 131) or
        ``"footpoint"`` (impulsive transition-region kernel).
    x_px, y_px : float
        0-based pixel position in the image.
    tx_arcsec, ty_arcsec : float
        Helioprojective position.
    lon_deg, lat_deg : float
        Stonyhurst position of the kernel's foot on the surface.
    sigma_px, sigma_arcsec : float
        Gaussian extent.
    visible : bool
        False when the kernel is behind the limb or off the image.
    flux_share : float
        Share of the flare's visible AIA emission in this kernel.
    """

    kind: str
    x_px: float
    y_px: float
    tx_arcsec: float
    ty_arcsec: float
    lon_deg: float
    lat_deg: float
    sigma_px: float
    sigma_arcsec: float
    visible: bool
    flux_share: float

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping with rounded numbers."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = _round(value)
        return out


@dataclass(frozen=True)
class FlareTruth:
    """A flare in one frame: its intrinsic class, current state and kernels."""

    name: str
    region: str
    peak_class: str
    phase: str
    temperature_k: float
    em_cm3: float
    goes_flux: float
    location: str
    kernels: tuple[FlareKernel, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {"name": self.name, "region": self.region, "peak_class": self.peak_class,
                "phase": self.phase, "temperature_k": _round(self.temperature_k),
                "em_cm3": _round(self.em_cm3), "goes_flux": _round(self.goes_flux),
                "location": self.location, "kernels": [k.to_json() for k in self.kernels]}


@dataclass(frozen=True)
class RegionTruth:
    """An active region's position in one frame."""

    name: str
    lon_deg: float
    lat_deg: float
    x_px: float
    y_px: float
    visible: bool
    location: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        out = asdict(self)
        for key in ("lon_deg", "lat_deg", "x_px", "y_px"):
            out[key] = _round(out[key])
        return out


@dataclass(frozen=True)
class Truth:
    """Ground truth at one observation time (one JSON line).

    ``goes_flux`` is the whole Sun's XRS-B flux (W m^-2, NOAA operational
    scale); ``event_class`` its class in (none, C, M, X); ``irradiance`` the
    EVE lines in the order of :data:`~monitor.synth.eve.EVE_LINES`.
    ``files`` maps wavelength to the file written (empty in a data gap).
    """

    index: int
    t_rec: datetime
    scenario: str
    seed: int | None
    world: str
    goes_flux: float
    goes_class: str
    event_class: str
    event_class_index: int
    irradiance: tuple[float, ...]
    flares: tuple[FlareTruth, ...]
    regions: tuple[RegionTruth, ...]
    eclipse_fraction: float = 0.0
    gap: bool = False
    files: dict[int, str] = field(default_factory=dict)
    quality: dict[int, int] = field(default_factory=dict)
    exposure_s: dict[int, float] = field(default_factory=dict)
    geometry: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping for the sidecar."""
        return {
            "index": self.index, "t_rec": iso_time(self.t_rec), "scenario": self.scenario,
            "seed": self.seed, "world": self.world, "gap": self.gap,
            "goes_xrsb_flux": _round(self.goes_flux), "goes_class": self.goes_class,
            "event_class": self.event_class, "event_class_index": self.event_class_index,
            "irradiance": {line.name: _round(v) for line, v in zip(EVE_LINES, self.irradiance)},
            "flares": [f.to_json() for f in self.flares],
            "active_regions": [r.to_json() for r in self.regions],
            "eclipse_fraction": _round(self.eclipse_fraction, 4),
            "files": {str(k): v for k, v in self.files.items()},
            "quality": {str(k): v for k, v in self.quality.items()},
            "exposure_s": {str(k): _round(v) for k, v in self.exposure_s.items()},
            "geometry": {k: v if isinstance(v, int) else _round(v, 10)
                         for k, v in self.geometry.items()},
        }

    def to_line(self) -> str:
        """One compact JSON line (no trailing newline)."""
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=False)
