"""Spatial structure: loop arcades and kernels in 3-D, projected onto the image.

An active region or flare is built once in a local frame on the solar surface
(west, north, up; solar radii): loops are semicircles between two footpoints,
tilted a little out of the vertical, sampled every 0.25 Mm; kernels are 3-D
Gaussian point clouds. Each point carries a share of its component's emission
measure. Every frame places the frame at the region's current heliographic
position (it rotates with the Sun), projects the points through the observer
geometry, drops the ones hidden behind the disk, deposits the rest bilinearly
onto a patch of the image and blurs it to the structure's physical width. The
patch sums to the visible share of the emission measure, which is exactly
what the image, GOES and EVE truth all use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from monitor.synth.geometry import ARCSEC_PER_RAD, ImageGeometry, Observer, heliocentric_to_hpc

__all__ = [
    "MM_PER_RSUN",
    "Patch",
    "PointCloud",
    "arcade",
    "gaussian_cloud",
    "local_to_heliocentric",
    "local_to_heliographic",
    "project",
    "splat",
    "width_px",
]

MM_PER_RSUN: float = 696.0


@dataclass(frozen=True)
class PointCloud:
    """Points in a region's local frame with emission weights summing to 1.

    Parameters
    ----------
    xyz : numpy.ndarray
        Shape (N, 3): west, north, up in solar radii from the region's centre.
    weights : numpy.ndarray
        Shape (N,), non-negative, sum 1.
    width_mm : float
        Physical width (Gaussian sigma) of the structures, Mm.
    """

    xyz: np.ndarray
    weights: np.ndarray
    width_mm: float

    @staticmethod
    def merge(clouds: list[PointCloud], shares: list[float], width_mm: float) -> PointCloud:
        """Concatenate clouds, giving cloud ``i`` the share ``shares[i]`` of the weight."""
        total = sum(shares)
        xyz = np.concatenate([c.xyz for c in clouds])
        weights = np.concatenate([c.weights * (s / total) for c, s in zip(clouds, shares)])
        return PointCloud(xyz, weights, width_mm)


@dataclass(frozen=True)
class Patch:
    """A rectangular piece of an image: ``values`` placed with its corner at (y0, x0)."""

    y0: int
    x0: int
    values: np.ndarray

    @property
    def total(self) -> float:
        """Sum of the values (the visible share of the emission)."""
        return float(self.values.sum(dtype=np.float64))

    def add_to(self, image: np.ndarray, scale: float) -> None:
        """``image[patch] += scale * values`` in place."""
        h, w = self.values.shape
        if h == 0 or w == 0 or scale == 0:
            return
        view = image[self.y0:self.y0 + h, self.x0:self.x0 + w]
        cv2.scaleAdd(self.values, float(scale), view, dst=view)


def arcade(rng: np.random.Generator, n_loops: int, foot_a: np.ndarray, foot_b: np.ndarray,
           spread_a: float, spread_b: float, height_ratio: tuple[float, float],
           along: np.ndarray | None = None, along_spread: float = 0.0,
           brightness_sigma: float = 0.5, width_mm: float = 1.5,
           step_mm: float = 0.25) -> PointCloud:
    """Semicircular loops between scattered footpoints.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the random footpoints and brightnesses.
    n_loops : int
        Number of loops.
    foot_a, foot_b : numpy.ndarray
        Mean (west, north) positions of the two footpoint groups, solar radii.
    spread_a, spread_b : float
        Gaussian scatter of the footpoints, solar radii.
    height_ratio : tuple of float
        Loop height as a fraction of the footpoint half-separation (uniform range).
    along : numpy.ndarray, optional
        Unit (west, north) vector along which both footpoints shift together
        by ``N(0, along_spread)`` (an arcade along a neutral line).
    brightness_sigma : float
        Log-normal scatter of the loops' brightness.
    width_mm : float
        Loop thickness (sigma), Mm.
    step_mm : float
        Sampling step along the loops; keep it under half a pixel.
    """
    step = step_mm / MM_PER_RSUN
    shift = (along[None, :] * rng.normal(0.0, along_spread, (n_loops, 1))
             if along is not None else np.zeros((n_loops, 2)))
    a = foot_a[None, :] + rng.normal(0.0, spread_a, (n_loops, 2)) + shift
    b = foot_b[None, :] + rng.normal(0.0, spread_b, (n_loops, 2)) + shift
    half = np.maximum(0.5 * np.hypot(*(b - a).T), 1e-9)
    height = half * rng.uniform(*height_ratio, n_loops)
    lean = np.radians(rng.uniform(-20.0, 20.0, n_loops))
    brightness = np.exp(rng.normal(0.0, brightness_sigma, n_loops))
    # One sample count for all loops (the longest one's); each loop's weight is
    # spread evenly over its samples, so shorter loops are just denser.
    length = float(np.max(np.pi * 0.5 * (half + height)))
    n = max(8, int(length / step))
    theta = np.linspace(0.0, math.pi, n)[None, :]
    mid = 0.5 * (a + b)
    axis = (b - a) / (2 * half[:, None])
    normal = np.column_stack([-axis[:, 1], axis[:, 0]])
    rise = np.sin(theta) * height[:, None]
    along_loop = -np.cos(theta) * half[:, None]
    lateral = rise * np.sin(lean)[:, None]
    xy = (mid[:, None, :] + along_loop[..., None] * axis[:, None, :]
          + lateral[..., None] * normal[:, None, :])
    z = rise * np.cos(lean)[:, None]
    xyz = np.concatenate([xy, z[..., None]], axis=2).reshape(-1, 3)
    weights = np.repeat(brightness / n, n)
    return PointCloud(xyz, weights / weights.sum(), width_mm)


def gaussian_cloud(rng: np.random.Generator, centre: np.ndarray, sigma: np.ndarray,
                   n: int = 3000, width_mm: float = 1.0,
                   axes: np.ndarray | None = None) -> PointCloud:
    """An ellipsoidal Gaussian kernel as ``n`` equally weighted points.

    ``sigma`` gives the standard deviations along ``axes`` (rows: unit vectors
    in the local frame; default west, north, up).
    """
    axes = np.eye(3) if axes is None else np.asarray(axes, dtype=np.float64)
    offsets = rng.standard_normal((n, 3)) * np.asarray(sigma)[None, :]
    xyz = np.asarray(centre, dtype=np.float64)[None, :] + offsets @ axes
    xyz[:, 2] = np.abs(xyz[:, 2])
    return PointCloud(xyz, np.full(n, 1.0 / n), width_mm)


def local_to_heliocentric(xyz: np.ndarray, lon_deg: float, lat_deg: float,
                          observer: Observer) -> np.ndarray:
    """Observer-frame heliocentric cartesian (solar radii) of local-frame points."""
    lon = math.radians(lon_deg - observer.hgln_deg)
    lat = math.radians(lat_deg)
    b0 = math.radians(observer.hglt_deg)
    # Heliographic cartesian with X towards the observer's longitude, Z north.
    centre = np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon),
                       math.sin(lat)])
    west = np.array([-math.sin(lon), math.cos(lon), 0.0])
    north = np.array([-math.sin(lat) * math.cos(lon), -math.sin(lat) * math.sin(lon),
                      math.cos(lat)])
    surface = centre[None, :] + xyz[:, :1] * west[None, :] + xyz[:, 1:2] * north[None, :]
    surface /= np.linalg.norm(surface, axis=1, keepdims=True)
    p = surface * (1.0 + xyz[:, 2:3])
    # Tilt by B0 about the heliographic Y axis: the observer sits at latitude B0.
    hx = p[:, 1]
    hy = p[:, 2] * math.cos(b0) - p[:, 0] * math.sin(b0)
    hz = p[:, 2] * math.sin(b0) + p[:, 0] * math.cos(b0)
    return np.column_stack([hx, hy, hz])


def project(cloud: PointCloud, lon_deg: float, lat_deg: float, observer: Observer,
            geometry: ImageGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel x, y of the cloud's points and their weights, zero where occulted."""
    helio = local_to_heliocentric(cloud.xyz, lon_deg, lat_deg, observer)
    hidden = (helio[:, 2] < 0) & (helio[:, 0] ** 2 + helio[:, 1] ** 2 < 1.0)
    tx, ty = heliocentric_to_hpc(helio, observer)
    x, y = geometry.hpc_to_pixel(tx, ty)
    return x, y, np.where(hidden, 0.0, cloud.weights)


def width_px(width_mm: float, observer: Observer, geometry: ImageGeometry) -> float:
    """A physical width (Mm at the Sun) in pixels of ``geometry``."""
    mm_per_arcsec = (observer.dsun_m - 6.96e8) / ARCSEC_PER_RAD / 1e6
    return width_mm / mm_per_arcsec / geometry.cdelt_arcsec


def splat(x: np.ndarray, y: np.ndarray, weights: np.ndarray, sigma_px: float,
          size: int) -> Patch:
    """Deposit weighted points bilinearly and blur them into a :class:`Patch`.

    Points off the image are dropped (their emission is outside the field of
    view). The patch is float32 and sums to the weight that landed on the image.
    """
    sigma_px = max(float(sigma_px), 0.5)
    keep = (weights > 0) & (x > -0.5) & (x < size - 0.5) & (y > -0.5) & (y < size - 0.5)
    if not np.any(keep):
        return Patch(0, 0, np.zeros((0, 0), dtype=np.float32))
    x, y, w = x[keep], y[keep], weights[keep]
    margin = math.ceil(4 * sigma_px) + 2
    x0 = max(math.floor(x.min()) - margin, 0)
    y0 = max(math.floor(y.min()) - margin, 0)
    x1 = min(math.ceil(x.max()) + margin + 1, size)
    y1 = min(math.ceil(y.max()) + margin + 1, size)
    h, wd = y1 - y0, x1 - x0
    fx, fy = x - x0, y - y0
    ix = np.clip(np.floor(fx).astype(np.int64), 0, wd - 2)
    iy = np.clip(np.floor(fy).astype(np.int64), 0, h - 2)
    ax = np.clip(fx - ix, 0.0, 1.0)
    ay = np.clip(fy - iy, 0.0, 1.0)
    grid = np.zeros(h * wd, dtype=np.float64)
    for dy, dx, share in ((0, 0, (1 - ax) * (1 - ay)), (0, 1, ax * (1 - ay)),
                          (1, 0, (1 - ax) * ay), (1, 1, ax * ay)):
        grid += np.bincount((iy + dy) * wd + ix + dx, weights=w * share, minlength=h * wd)
    values = grid.reshape(h, wd).astype(np.float32)
    total = float(w.sum())
    values = cv2.GaussianBlur(values, (0, 0), sigmaX=sigma_px, sigmaY=sigma_px,
                              borderType=cv2.BORDER_CONSTANT)
    # The blur leaks a little past the patch edge at the image border: keep the total.
    got = float(values.sum(dtype=np.float64))
    if got > 0:
        values *= total / got
    return Patch(y0, x0, values)


def local_to_heliographic(xyz: np.ndarray, lon_deg: float, lat_deg: float
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Stonyhurst (lon, lat) in degrees of the surface point below local-frame points."""
    lon = math.radians(lon_deg)
    lat = math.radians(lat_deg)
    centre = np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon),
                       math.sin(lat)])
    west = np.array([-math.sin(lon), math.cos(lon), 0.0])
    north = np.array([-math.sin(lat) * math.cos(lon), -math.sin(lat) * math.sin(lon),
                      math.cos(lat)])
    xyz = np.atleast_2d(xyz)
    p = centre[None, :] + xyz[:, :1] * west[None, :] + xyz[:, 1:2] * north[None, :]
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    return np.degrees(np.arctan2(p[:, 1], p[:, 0])), np.degrees(np.arcsin(p[:, 2]))
