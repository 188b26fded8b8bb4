"""From model-grid pixels to solar coordinates: the frame geometry and its WCS.

The coordinate chain
--------------------
A saliency map lives on the model grid (:class:`monitor.grid.ModelGrid`).
Preprocessing resamples every file onto that grid through the file's own WCS:
solar north up, the Sun's centre at pixel ``((N-1)/2, (N-1)/2)`` and the
solar radius at ``R_px = 1600/4096 * N`` pixels. The grid is therefore an
exact, known gnomonic (TAN) projection of helioprojective coordinates for the
observer of the frame:

* ``CTYPE = HPLN-TAN / HPLT-TAN``, ``CRVAL = (0, 0)`` (the Sun's centre),
  ``CRPIX = ((N+1)/2, (N+1)/2)`` (1-based FITS), no rotation;
* plate scale ``CDELT = RSUN_OBS / R_px`` arcsec per pixel;
* observer ``HGLN_OBS``, ``HGLT_OBS`` (the B0 angle), ``DSUN_OBS`` and
  ``DATE-OBS`` from the file's header, ``RSUN_REF = DSUN_OBS * sin(RSUN_OBS)``
  so the limb of sunpy's sphere is exactly the limb of the grid.

Going grid pixel -> helioprojective through this WCS is the same as going
back through the preprocessing transform and then through the file's WCS
(the composition of the two is this WCS, by construction of the
preprocessing), without keeping the file or its header around.
:meth:`FrameGeometry.from_header` builds the geometry from a level-1 header.

Region centroids go grid pixel -> helioprojective -> Stonyhurst in closed
form, numpy only: the gnomonic (TAN) inverse about the disk centre gives
``(Tx, Ty)``; the line of sight meets the sphere of radius ``RSUN_REF`` at
the near root of ``|o + d s| = R`` (Thompson 2006, A&A 449, 791, eq. 15),
and rotating heliocentric-cartesian by the observer's ``(HGLN_OBS,
HGLT_OBS)`` gives ``(lon, lat)``; NaN off the disk. These are the formulas
sunpy's ``Helioprojective -> HeliographicStonyhurst`` evaluates, without
building coordinate frames: on the analysis path that machinery cost more
than the rest of the saliency summary and held the GIL the event loop needs.
``tests/saliency/test_saliency_geometry.py`` checks the closed form against
astropy's WCS and sunpy's transform, to 1e-6 arcsec and 1e-6 degrees, on and
off the disk, across observers. :meth:`FrameGeometry.wcs` stays for callers
who want the astropy objects.

Array convention: a grid image is indexed ``[y, x]`` (row, column) as FITS
data are; ``x`` grows to solar west, ``y`` to solar north, so images display
north up with ``origin="lower"``.

Areas use ``mu = cos(heliocentric angle)``. A line of sight whose angle from
the Sun's centre is ``theta`` passes the centre at ``rho = D sin(theta)``
(impact parameter); where it meets the visible sphere the surface normal makes
an angle ``arcsin(rho / R)`` with it, so ``mu = sqrt(1 - (rho/R)^2)`` exactly
(no small-angle approximation), and ``rho/R = sin(theta) / sin(RSUN_OBS)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from monitor.grid import ModelGrid

if TYPE_CHECKING:
    from astropy.wcs import WCS

__all__ = ["ARCSEC_PER_RAD", "FrameGeometry", "SolarPosition", "noaa_location"]

ARCSEC_PER_RAD: float = 206264.80624709636


@dataclass(frozen=True)
class SolarPosition:
    """Solar coordinates of grid points (arrays of one shape)."""

    hpc_x_arcsec: np.ndarray
    hpc_y_arcsec: np.ndarray
    hgs_lon_deg: np.ndarray
    hgs_lat_deg: np.ndarray
    on_disk: np.ndarray


@dataclass(frozen=True)
class FrameGeometry:
    """Observation geometry of one frame on the model grid.

    Parameters
    ----------
    t_obs : datetime
        Observation time; a naive datetime is taken as UTC.
    rsun_obs_arcsec : float
        Apparent solar radius seen by the observer (``RSUN_OBS``).
    dsun_obs_m : float
        Observer-Sun distance (``DSUN_OBS``).
    hgln_obs_deg, hglt_obs_deg : float
        Observer's Stonyhurst longitude and latitude (``HGLN_OBS``,
        ``HGLT_OBS`` = the B0 angle).
    size : int
        Model grid size ``N`` in pixels.
    """

    t_obs: datetime
    rsun_obs_arcsec: float
    dsun_obs_m: float
    hgln_obs_deg: float = 0.0
    hglt_obs_deg: float = 0.0
    size: int = 256

    def __post_init__(self) -> None:
        if self.t_obs.tzinfo is None:
            object.__setattr__(self, "t_obs", self.t_obs.replace(tzinfo=UTC))
        else:
            object.__setattr__(self, "t_obs", self.t_obs.astimezone(UTC))
        if not (0 < self.rsun_obs_arcsec < 10_000):
            raise ValueError(f"rsun_obs_arcsec out of range: {self.rsun_obs_arcsec}")
        if not self.dsun_obs_m > 1e9:
            raise ValueError(f"dsun_obs_m out of range: {self.dsun_obs_m}")
        if not -90 <= self.hglt_obs_deg <= 90:
            raise ValueError(f"hglt_obs_deg out of range: {self.hglt_obs_deg}")
        if self.size < 2:
            raise ValueError(f"grid size must be >= 2, got {self.size}")

    @property
    def grid(self) -> ModelGrid:
        """The model grid."""
        return ModelGrid(self.size)

    @property
    def radius_px(self) -> float:
        """Solar radius in grid pixels."""
        return self.grid.radius_px

    @property
    def arcsec_per_px(self) -> float:
        """Plate scale of the grid (``CDELT``)."""
        return self.grid.arcsec_per_px(self.rsun_obs_arcsec)

    @property
    def rsun_m(self) -> float:
        """Solar radius implied by ``RSUN_OBS`` and ``DSUN_OBS`` (``RSUN_REF``)."""
        return self.dsun_obs_m * math.sin(self.rsun_obs_arcsec / ARCSEC_PER_RAD)

    @classmethod
    def from_header(cls, header: Mapping[str, Any], size: int) -> FrameGeometry:
        """Geometry of a frame from an AIA level-1 header (``T_OBS`` or ``DATE-OBS``).

        Parameters
        ----------
        header : mapping
            FITS header (or ``sunpy.map.Map.meta``) of one of the frame's files.
        size : int
            Model grid size.
        """
        def get(*keys: str) -> Any:
            for key in keys:
                for variant in (key, key.lower()):
                    if variant in header and header[variant] not in (None, ""):
                        return header[variant]
            raise KeyError(f"header has none of {keys}")

        from astropy.time import Time

        stamp = str(get("T_OBS", "DATE-OBS")).strip().rstrip("Z")
        t_obs = Time(stamp, scale="utc").to_datetime(timezone=UTC)
        try:
            hgln = float(get("HGLN_OBS"))
        except KeyError:
            hgln = 0.0  # AIA files before 2011 lack HGLN_OBS; SDO is within 1 deg of 0
        return cls(t_obs=t_obs, rsun_obs_arcsec=float(get("RSUN_OBS")),
                   dsun_obs_m=float(get("DSUN_OBS")), hgln_obs_deg=hgln,
                   hglt_obs_deg=float(get("HGLT_OBS", "CRLT_OBS")), size=size)

    def fits_header(self) -> dict[str, Any]:
        """FITS WCS keywords of the grid (what a grid-sized level-1.5 map would carry)."""
        from astropy.time import Time

        t = Time(self.t_obs.replace(tzinfo=None), scale="utc")
        scale = self.arcsec_per_px
        ref = self.grid.center + 1.0  # FITS pixels are 1-based
        return {
            "NAXIS": 2, "NAXIS1": self.size, "NAXIS2": self.size,
            "CTYPE1": "HPLN-TAN", "CTYPE2": "HPLT-TAN",
            "CUNIT1": "arcsec", "CUNIT2": "arcsec",
            "CDELT1": scale, "CDELT2": scale,
            "CRPIX1": ref, "CRPIX2": ref, "CRVAL1": 0.0, "CRVAL2": 0.0,
            "PC1_1": 1.0, "PC1_2": 0.0, "PC2_1": 0.0, "PC2_2": 1.0,
            "DATE-OBS": t.isot, "MJD-OBS": float(t.mjd),
            "RSUN_OBS": self.rsun_obs_arcsec, "RSUN_REF": self.rsun_m,
            "DSUN_OBS": self.dsun_obs_m,
            "HGLN_OBS": self.hgln_obs_deg, "HGLT_OBS": self.hglt_obs_deg,
        }

    def wcs(self) -> WCS:
        """The grid's astropy WCS (sunpy maps it to a ``Helioprojective`` frame)."""
        return _grid_wcs(self)

    def pixel_to_solar(self, x: np.ndarray, y: np.ndarray) -> SolarPosition:
        """Helioprojective and Stonyhurst coordinates of 0-based grid pixels.

        Parameters
        ----------
        x, y : array_like
            Column and row positions (may be fractional).

        Returns
        -------
        SolarPosition
            Stonyhurst ``lon``/``lat`` are NaN and ``on_disk`` False where the
            line of sight misses the Sun.
        """
        xs = np.atleast_1d(np.asarray(x, dtype=np.float64))
        ys = np.atleast_1d(np.asarray(y, dtype=np.float64))
        c = self.grid.center
        scale = self.arcsec_per_px / ARCSEC_PER_RAD
        # TAN plane (radians) -> helioprojective longitude and latitude.
        u, v = (xs - c) * scale, (ys - c) * scale
        tx = np.arctan(u)
        ty = np.arctan(v / np.sqrt(1.0 + u * u))
        # Distance along the line of sight to the visible sphere; no root off the disk.
        d0, r = self.dsun_obs_m, self.rsun_m
        cos_tx, sin_tx, cos_ty, sin_ty = np.cos(tx), np.sin(tx), np.cos(ty), np.sin(ty)
        # a = angle from the disk centre, tan(a) = |(u, v)| exactly (TAN projection)
        tan2 = u * u + v * v
        cos_a = 1.0 / np.sqrt(1.0 + tan2)
        disc = r * r - d0 * d0 * (tan2 / (1.0 + tan2))
        on_disk = disc > 0.0
        # NaN off the disk carries through quietly to NaN coordinates
        d = np.where(on_disk, d0 * cos_a - np.sqrt(np.where(on_disk, disc, 0.0)), np.nan)
        # Heliocentric-cartesian (z towards the observer), then the observer's rotation.
        hx, hy, hz = d * cos_ty * sin_tx, d * sin_ty, d0 - d * cos_ty * cos_tx
        b0, l0 = math.radians(self.hglt_obs_deg), math.radians(self.hgln_obs_deg)
        lat = np.degrees(np.arcsin(np.clip((hy * math.cos(b0) + hz * math.sin(b0)) / r,
                                           -1.0, 1.0)))
        lon = np.degrees(l0 + np.arctan2(hx, hz * math.cos(b0) - hy * math.sin(b0)))
        lon = (lon + 180.0) % 360.0 - 180.0
        return SolarPosition(
            hpc_x_arcsec=tx * ARCSEC_PER_RAD, hpc_y_arcsec=ty * ARCSEC_PER_RAD,
            hgs_lon_deg=lon, hgs_lat_deg=lat, on_disk=on_disk)

    def world_to_pixel(self, tx_arcsec: np.ndarray, ty_arcsec: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        """0-based grid pixels of helioprojective positions (arcsec)."""
        x, y = self.wcs().world_to_pixel_values(np.asarray(tx_arcsec, dtype=np.float64) / 3600.0,
                                                np.asarray(ty_arcsec, dtype=np.float64) / 3600.0)
        return np.asarray(x), np.asarray(y)

    def mu(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``cos`` of the heliocentric angle at grid pixels; 0 off the disk.

        Closed form (module docstring), numpy only: used per region pixel for
        the deprojected areas, where going through sunpy would cost ~1 s.
        """
        c = self.grid.center
        r_px = np.hypot(np.asarray(x, dtype=np.float64) - c, np.asarray(y, dtype=np.float64) - c)
        # TAN projection: a pixel at r_px from the centre is at theta = atan(r_px * CDELT).
        theta = np.arctan(r_px * self.arcsec_per_px / ARCSEC_PER_RAD)
        rho = np.sin(theta) / math.sin(self.rsun_obs_arcsec / ARCSEC_PER_RAD)
        return np.sqrt(np.clip(1.0 - rho * rho, 0.0, None))

    def on_disk(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether grid pixels lie inside the limb."""
        return self.mu(x, y) > 0.0


@lru_cache(maxsize=8)
def _grid_wcs(geometry: FrameGeometry) -> WCS:
    import sunpy.coordinates  # noqa: F401  (sunpy's WCS <-> frame mapping)
    from astropy.wcs import WCS

    return WCS(geometry.fits_header())


def noaa_location(lat_deg: float, lon_deg: float) -> str:
    """NOAA-style location, e.g. ``"N15W30"``.

    Stonyhurst latitude (N positive) and longitude (W positive, E negative,
    so the central meridian is 0), each rounded to whole degrees and written
    with two digits. The hemisphere letters follow the *rounded* values, with
    zero written as N and W: the disk centre is ``"N00W00"``, also for -0.4 deg.
    """
    lat = round(float(lat_deg))
    lon = round(float(lon_deg))
    ns = "N" if lat >= 0 else "S"
    ew = "W" if lon >= 0 else "E"
    return f"{ns}{abs(lat):02d}{ew}{abs(lon):02d}"
