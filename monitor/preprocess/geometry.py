"""From a header WCS to the model grid: one affine map per file.

The model grid (:class:`monitor.grid.ModelGrid`) puts disk centre at pixel
``((N-1)/2, (N-1)/2)``, solar north up (+row) and west right (+column), and
the photospheric radius at ``1600/4096 * N`` pixels. For a file whose Sun has
apparent radius ``RSUN_OBS`` arcsec, a grid pixel therefore spans
``g = RSUN_OBS / radius_px`` arcsec, and grid pixel ``q = (u, v)`` looks at
helioprojective ``T = g (q - c)``. The header gives input pixel ``p`` for
``T`` (FITS WCS, 0-based here):

    p = (CRPIX - 1) + M^-1 (T - CRVAL),   M = diag(CDELT) PC

so ``p = A q + b`` with ``A = g M^-1`` and ``b = CRPIX - 1 - M^-1 CRVAL - A c``.

The TAN projection is treated as linear. Within the grid (|T| < 1.3 solar
radii, ~0.006 rad) the neglected term is ~|T|^3/3, below 1e-3 input pixel, and
the centre (the point the tolerances are about) is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from monitor.grid import ModelGrid
from monitor.ingest.records import Geometry

__all__ = ["GridMapping", "grid_mapping"]


@dataclass(frozen=True)
class GridMapping:
    """Affine map from grid pixels ``(u, v)`` to input pixels ``(x, y)``, both 0-based.

    Attributes
    ----------
    matrix : tuple
        ``A`` with ``(x, y) = A (u, v) + offset``.
    offset : tuple
        Input coordinates of grid pixel ``(0, 0)``.
    grid_size : int
        ``N``.
    input_shape : tuple
        ``(height, width)`` of the input array.
    """

    matrix: tuple[tuple[float, float], tuple[float, float]]
    offset: tuple[float, float]
    grid_size: int
    input_shape: tuple[int, int]

    @property
    def footprint_px(self) -> float:
        """Side of a grid pixel in input pixels (square root of the area ratio)."""
        a = np.asarray(self.matrix)
        return float(np.sqrt(abs(np.linalg.det(a))))

    @property
    def rotation_deg(self) -> float:
        """Angle between the input rows and the grid rows, degrees."""
        a = np.asarray(self.matrix)
        return float(np.degrees(np.arctan2(a[1, 0], a[0, 0])))

    def input_coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Input ``(x, y)`` of every grid pixel centre, each ``(N, N)`` float64."""
        n = self.grid_size
        q = np.arange(n, dtype=np.float64)
        (a00, a01), (a10, a11) = self.matrix
        x = (a00 * q)[None, :] + (a01 * q)[:, None] + self.offset[0]
        y = (a10 * q)[None, :] + (a11 * q)[:, None] + self.offset[1]
        return x, y

    def to_input(self, u: float, v: float) -> tuple[float, float]:
        """Input pixel of grid position ``(u, v)``."""
        (a00, a01), (a10, a11) = self.matrix
        return (a00 * u + a01 * v + self.offset[0], a10 * u + a11 * v + self.offset[1])

    def to_grid(self, x: float, y: float) -> tuple[float, float]:
        """Grid position of input pixel ``(x, y)``."""
        a = np.asarray(self.matrix)
        u, v = np.linalg.solve(a, np.array([x - self.offset[0], y - self.offset[1]]))
        return float(u), float(v)


def grid_mapping(geometry: Geometry, grid: ModelGrid) -> GridMapping:
    """The affine map that brings ``geometry``'s image onto ``grid`` (module docstring)."""
    m_inv = np.linalg.inv(geometry.pixel_matrix())
    g = grid.arcsec_per_px(geometry.rsun_obs)
    a = g * m_inv
    crpix0 = np.array([geometry.crpix1 - 1.0, geometry.crpix2 - 1.0])
    crval = np.array([geometry.crval1, geometry.crval2])
    c = np.array([grid.center, grid.center])
    b = crpix0 - m_inv @ crval - a @ c
    return GridMapping(
        matrix=((float(a[0, 0]), float(a[0, 1])), (float(a[1, 0]), float(a[1, 1]))),
        offset=(float(b[0]), float(b[1])),
        grid_size=grid.size,
        input_shape=(geometry.naxis2, geometry.naxis1))
