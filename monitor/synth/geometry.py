"""Observer and image geometry: where SDO is, and how a solar point lands on a pixel.

Coordinates (Thompson 2006, A&A 449, 791, the conventions sunpy uses)
---------------------------------------------------------------------
* Heliographic Stonyhurst (lon, lat): longitude 0 faces the Earth, positive
  towards the west limb.
* Heliocentric cartesian (x, y, z) in solar radii: x to solar west, y to solar
  north (projected), z towards the observer. With the observer at Stonyhurst
  (L0, B0)::

      x = r cos(lat) sin(lon - L0)
      y = r [sin(lat) cos B0 - cos(lat) cos(lon - L0) sin B0]
      z = r [sin(lat) sin B0 + cos(lat) cos(lon - L0) cos B0]

* Helioprojective (Tx, Ty): angles seen from the observer at distance D,
  ``Tx = atan2(x, D - z)``, ``Ty = asin(y / |(x, y, D - z)|)``.
* Pixels: the gnomonic (TAN) projection written in the FITS header
  (``CTYPE = HPLN-TAN/HPLT-TAN``, ``CRVAL = 0``, so ``CRPIX`` is the Sun's
  centre), intermediate coordinates ``u = tan Tx``, ``v = tan Ty / cos Tx``,
  turned by ``CROTA2`` and scaled by ``CDELT``. :class:`ImageGeometry` applies
  exactly the transform astropy's WCS reads back from those keywords.

Observer: SDO is in an inclined (28.5 deg) geosynchronous orbit, so it is
the Earth's position (astropy's built-in ephemeris via sunpy) plus a ~42,000 km
offset that turns once a sidereal day. From it follow ``DSUN_OBS``,
``HGLN_OBS``/``HGLT_OBS`` (B0), ``RSUN_OBS = asin(RSUN_REF / DSUN_OBS)`` and
the ``HAE*_OBS`` vector sunpy uses to place the observer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np

from monitor.grid import ModelGrid

__all__ = [
    "ARCSEC_PER_RAD",
    "AU_M",
    "RSUN_REF_M",
    "ImageGeometry",
    "Observer",
    "heliocentric_to_hpc",
    "impact_parameter_map",
    "noaa_location",
    "observer_at",
    "observer_fast",
]

RSUN_REF_M: float = 696_000_000.0
AU_M: float = 149_597_870_691.0
ARCSEC_PER_RAD: float = 206264.80624709636
_SDO_ORBIT_RADIUS_M: float = 42_164_000.0
_SDO_INCLINATION_DEG: float = 28.5
_SIDEREAL_DAY_S: float = 86164.0905
_OBLIQUITY_DEG: float = 23.4392911
_J2000 = datetime(2000, 1, 1, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Observer:
    """Position of SDO at one time.

    Parameters
    ----------
    time : datetime
        UTC time (timezone-aware).
    dsun_m : float
        Distance to the Sun's centre, metres.
    hgln_deg, hglt_deg : float
        Stonyhurst longitude and latitude (B0 angle) of the observer.
    crln_deg, crlt_deg : float
        Carrington longitude and latitude of the observer.
    car_rot : int
        Carrington rotation number.
    hae_m, gae_m : tuple of float
        Heliocentric (mean ecliptic) and geocentric (equatorial) positions, metres.
    """

    time: datetime
    dsun_m: float
    hgln_deg: float
    hglt_deg: float
    crln_deg: float = 0.0
    crlt_deg: float = 0.0
    car_rot: int = 0
    hae_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    gae_m: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def rsun_obs_arcsec(self) -> float:
        """Apparent solar radius in arcsec."""
        return math.asin(RSUN_REF_M / self.dsun_m) * ARCSEC_PER_RAD

    @property
    def distance_rsun(self) -> float:
        """Observer distance in solar radii."""
        return self.dsun_m / RSUN_REF_M


def _sdo_offset_gei(time: datetime) -> np.ndarray:
    """Approximate SDO position relative to the Earth, J2000 equatorial, metres."""
    phase = 2 * math.pi * ((time - _J2000).total_seconds() / _SIDEREAL_DAY_S % 1.0)
    inc = math.radians(_SDO_INCLINATION_DEG)
    r = _SDO_ORBIT_RADIUS_M
    return np.array([r * math.cos(phase), r * math.sin(phase) * math.cos(inc),
                     r * math.sin(phase) * math.sin(inc)])


def observer_at(time: datetime) -> Observer:
    """SDO's position at ``time`` from the astropy ephemeris (no network access).

    Parameters
    ----------
    time : datetime
        UTC; a naive datetime is taken as UTC.
    """
    import astropy.units as u
    from astropy.coordinates import CartesianRepresentation, HeliocentricMeanEcliptic, SkyCoord
    from astropy.time import Time
    from sunpy.coordinates import HeliographicCarrington, HeliographicStonyhurst, get_earth, sun

    if time.tzinfo is None:
        time = time.replace(tzinfo=UTC)
    t = Time(time.astimezone(UTC).replace(tzinfo=None), scale="utc")
    earth = get_earth(t).transform_to(HeliocentricMeanEcliptic(obstime=t))
    gei = _sdo_offset_gei(time)
    eps = math.radians(_OBLIQUITY_DEG)
    offset = np.array([gei[0], gei[1] * math.cos(eps) + gei[2] * math.sin(eps),
                       -gei[1] * math.sin(eps) + gei[2] * math.cos(eps)])
    hae = earth.cartesian.xyz.to_value(u.m) + offset
    sdo = SkyCoord(CartesianRepresentation(*hae, unit=u.m),
                   frame=HeliocentricMeanEcliptic(obstime=t))
    hgs = sdo.transform_to(HeliographicStonyhurst(obstime=t))
    hgc = sdo.transform_to(HeliographicCarrington(obstime=t, observer="self"))
    return Observer(
        time=time, dsun_m=float(hgs.radius.to_value(u.m)),
        hgln_deg=float(hgs.lon.wrap_at(180 * u.deg).deg), hglt_deg=float(hgs.lat.deg),
        crln_deg=float(hgc.lon.wrap_at(360 * u.deg).deg), crlt_deg=float(hgc.lat.deg),
        car_rot=int(sun.carrington_rotation_number(t)),
        hae_m=(float(hae[0]), float(hae[1]), float(hae[2])),
        gae_m=(float(gei[0]), float(gei[1]), float(gei[2])))


@lru_cache(maxsize=1)
def _yearly_table() -> tuple[np.ndarray, np.ndarray]:
    from astropy.time import Time, TimeDelta
    from sunpy.coordinates import sun

    times = Time("2014-01-01T00:00:00") + TimeDelta(np.arange(366) * 86400.0, format="sec")
    b0 = np.asarray(sun.B0(times).deg, dtype=np.float64)
    dist = np.asarray(sun.earth_distance(times).to_value("m"), dtype=np.float64)
    return b0, dist


def observer_fast(day_of_year: float, time: datetime | None = None) -> Observer:
    """An Earth-like observer for a day of the year, from a cached table (microseconds).

    Used by the dataset API, where only B0 and the distance matter.
    """
    b0, dist = _yearly_table()
    days = np.arange(len(b0), dtype=np.float64)
    doy = float(day_of_year) % 365.25
    when = time or datetime(2014, 1, 1, tzinfo=UTC)
    return Observer(time=when, dsun_m=float(np.interp(doy, days, dist)), hgln_deg=0.0,
                    hglt_deg=float(np.interp(doy, days, b0)))


@dataclass(frozen=True)
class ImageGeometry:
    """Pixel grid and pointing of one image (the FITS WCS keywords).

    Parameters
    ----------
    size : int
        Image width and height in pixels.
    cdelt_arcsec : float
        Plate scale (``CDELT1 = CDELT2``).
    crpix1, crpix2 : float
        1-based FITS reference pixel, where the Sun's centre is.
    crota2_deg : float
        Image rotation (``CROTA2``), degrees.
    """

    size: int
    cdelt_arcsec: float
    crpix1: float
    crpix2: float
    crota2_deg: float = 0.0

    @classmethod
    def aia(cls, size: int, offset_px: tuple[float, float] = (0.0, 0.0),
            crota2_deg: float = 0.0) -> ImageGeometry:
        """An AIA image of ``size`` px: 0.6 arcsec/px at 4096, binned for smaller sizes.

        ``offset_px`` is the Sun-centre offset from the array centre in
        full-resolution pixels (as AIA's ``X0_MP``/``Y0_MP`` wander).
        """
        binning = 4096 / size
        return cls(size=size, cdelt_arcsec=0.6 * binning,
                   crpix1=(size + 1) / 2 + offset_px[0] / binning,
                   crpix2=(size + 1) / 2 + offset_px[1] / binning, crota2_deg=crota2_deg)

    @classmethod
    def model_grid(cls, grid: ModelGrid, rsun_obs_arcsec: float) -> ImageGeometry:
        """The model grid of ``monitor.grid``: Sun centred, north up, fixed radius in px."""
        return cls(size=grid.size, cdelt_arcsec=grid.arcsec_per_px(rsun_obs_arcsec),
                   crpix1=grid.center + 1, crpix2=grid.center + 1, crota2_deg=0.0)

    def with_size(self, size: int) -> ImageGeometry:
        """The same pointing on a grid of another size (centre and scale rescaled)."""
        factor = self.size / size
        return replace(self, size=size, cdelt_arcsec=self.cdelt_arcsec * factor,
                       crpix1=(self.crpix1 - 0.5) / factor + 0.5,
                       crpix2=(self.crpix2 - 0.5) / factor + 0.5)

    @property
    def centre_px(self) -> tuple[float, float]:
        """0-based pixel (x, y) of the Sun's centre."""
        return self.crpix1 - 1.0, self.crpix2 - 1.0

    @property
    def full_res_pixels_per_pixel(self) -> float:
        """How many 0.6 arcsec AIA pixels one pixel of this grid averages."""
        return (self.cdelt_arcsec / 0.6) ** 2

    def hpc_to_pixel(self, tx_arcsec: np.ndarray, ty_arcsec: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
        """0-based pixel coordinates of helioprojective positions (arcsec)."""
        tx = np.asarray(tx_arcsec, dtype=np.float64) / ARCSEC_PER_RAD
        ty = np.asarray(ty_arcsec, dtype=np.float64) / ARCSEC_PER_RAD
        u = np.tan(tx) * ARCSEC_PER_RAD
        v = np.tan(ty) / np.cos(tx) * ARCSEC_PER_RAD
        rho = math.radians(self.crota2_deg)
        c, s = math.cos(rho), math.sin(rho)
        dx = (c * u + s * v) / self.cdelt_arcsec
        dy = (-s * u + c * v) / self.cdelt_arcsec
        return self.crpix1 - 1.0 + dx, self.crpix2 - 1.0 + dy

    def pixel_to_hpc(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Helioprojective (Tx, Ty) in arcsec of 0-based pixel coordinates."""
        dx = np.asarray(x, dtype=np.float64) - (self.crpix1 - 1.0)
        dy = np.asarray(y, dtype=np.float64) - (self.crpix2 - 1.0)
        rho = math.radians(self.crota2_deg)
        c, s = math.cos(rho), math.sin(rho)
        u = self.cdelt_arcsec * (c * dx - s * dy) / ARCSEC_PER_RAD
        v = self.cdelt_arcsec * (s * dx + c * dy) / ARCSEC_PER_RAD
        tx = np.arctan(u)
        ty = np.arctan(v * np.cos(tx))
        return tx * ARCSEC_PER_RAD, ty * ARCSEC_PER_RAD


def heliocentric_to_hpc(xyz: np.ndarray, observer: Observer) -> tuple[np.ndarray, np.ndarray]:
    """Helioprojective (Tx, Ty) in arcsec of heliocentric points (solar radii)."""
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    depth = observer.distance_rsun - z
    tx = np.arctan2(x, depth)
    ty = np.arcsin(y / np.sqrt(x * x + y * y + depth * depth))
    return tx * ARCSEC_PER_RAD, ty * ARCSEC_PER_RAD


@lru_cache(maxsize=4)
def impact_parameter_map(geometry: ImageGeometry, distance_rsun: float) -> np.ndarray:
    """Distance of each pixel's line of sight from the Sun's centre, in solar radii.

    ``rho = D sin(theta)`` with ``theta`` the angle between the pixel's line of
    sight and the Sun's centre; the limb is at ``rho = 1``. Cached: the same
    geometry is rendered many times in a run.
    """
    n = geometry.size
    cx, cy = geometry.centre_px
    scale = geometry.cdelt_arcsec / ARCSEC_PER_RAD
    # The map is radial, so the rotation CROTA2 does not change it.
    dx = ((np.arange(n, dtype=np.float64) - cx) * scale) ** 2
    dy = ((np.arange(n, dtype=np.float64) - cy) * scale) ** 2
    r2 = dy[:, None] + dx[None, :]
    rho = distance_rsun * np.sqrt(r2 / (1.0 + r2))
    out = rho.astype(np.float32)
    out.setflags(write=False)
    return out


def noaa_location(lat_deg: float, lon_deg: float) -> str:
    """NOAA-style location string, e.g. ``"N15W30"`` (Stonyhurst, west positive)."""
    ns = "N" if lat_deg >= 0 else "S"
    ew = "W" if lon_deg >= 0 else "E"
    return f"{ns}{abs(round(lat_deg)):02d}{ew}{abs(round(lon_deg)):02d}"
