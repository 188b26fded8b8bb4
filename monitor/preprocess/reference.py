"""The standard slow path, kept as the reference the fast path is tested against.

``register_reference`` does what aiapy's ``register`` followed by downsampling
does, for the model grid: interpolate the whole image once at full resolution
(cubic spline, ``scipy.ndimage.affine_transform``, aiapy's default ``order=3``)
onto a canvas ``k`` times finer than the grid that is already rotated to solar
north, centred and scaled to the grid's fixed solar radius, then average
``k x k`` blocks. It costs a second or more per 4096-pixel image, which is why
the daemon does not use it.

``aiapy_register_reference`` runs aiapy itself (when installed) on a sunpy map
and averages the registered image onto the grid; it checks that the scipy
reference above is the same transformation as aiapy's.

Neither is used in the daemon; tests and ``benchmarks/preprocess.py`` use both.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from monitor.grid import ModelGrid
from monitor.ingest.records import Geometry, ImageData, Observation
from monitor.preprocess.geometry import grid_mapping
from monitor.preprocess.resample import area_resample, box_width

__all__ = ["aiapy_available", "aiapy_register_reference", "register_reference"]


def register_reference(observation: Observation, image: ImageData, grid: ModelGrid, *,
                       order: int = 3, oversample: int | None = None) -> np.ndarray:
    """Full-resolution spline registration then block averaging (module docstring).

    Parameters
    ----------
    observation, image : an ingested file
    grid : ModelGrid
    order : int
        Spline order of the full-resolution interpolation (aiapy default 3).
    oversample : int, optional
        Canvas pixels per grid pixel ``k``; default: the grid footprint in
        input pixels rounded (8 for 4096 -> 512), i.e. full resolution.

    Returns
    -------
    numpy.ndarray
        ``(N, N)`` float32 DN/s; NaN where a block touched missing data or the
        outside of the image.
    """
    mapping = grid_mapping(observation.geometry, grid)
    k = oversample or box_width(mapping.footprint_px)
    n = grid.size
    dn = image.to_dn().astype(np.float64)
    valid = np.isfinite(dn)
    dn[~valid] = 0.0
    (a00, a01), (a10, a11) = mapping.matrix
    b0, b1 = mapping.offset
    d = 0.5 / k - 0.5  # canvas pixel U -> grid coordinate U / k + d
    matrix = np.array([[a11 / k, a10 / k], [a01 / k, a00 / k]])
    offset = np.array([(a10 + a11) * d + b1, (a00 + a01) * d + b0])
    canvas = ndimage.affine_transform(dn, matrix, offset, output_shape=(n * k, n * k),
                                      order=order, mode="constant", cval=np.nan,
                                      prefilter=order > 1)
    if not valid.all():
        cover = ndimage.affine_transform(valid.astype(np.float32), matrix, offset,
                                         output_shape=(n * k, n * k), order=1,
                                         mode="constant", cval=0.0)
        canvas[cover < 0.999] = np.nan
    blocks = canvas.reshape(n, k, n, k).mean(axis=(1, 3))
    return (blocks / observation.exposure_s).astype(np.float32)


def aiapy_available() -> bool:
    """True when aiapy can be imported."""
    try:
        import aiapy.calibrate  # noqa: F401
    except ImportError:
        return False
    return True


def aiapy_register_reference(path: str, observation: Observation, grid: ModelGrid
                             ) -> np.ndarray:
    """aiapy ``register`` on the sunpy map of ``path``, then box averages onto the grid.

    The registered image is north-up and centred, so the averaging is a pure
    scale-and-shift box mean (no further interpolation).

    Returns
    -------
    numpy.ndarray
        ``(N, N)`` float32 DN/s (NaN where uncovered).
    """
    import warnings

    import sunpy.map
    from aiapy.calibrate import register

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registered = register(sunpy.map.Map(path))
    meta = registered.meta
    pc = registered.rotation_matrix
    geometry = Geometry(
        naxis1=registered.data.shape[1], naxis2=registered.data.shape[0],
        crpix1=float(meta["crpix1"]), crpix2=float(meta["crpix2"]),
        crval1=float(meta.get("crval1", 0.0)), crval2=float(meta.get("crval2", 0.0)),
        cdelt1=float(meta["cdelt1"]), cdelt2=float(meta["cdelt2"]),
        pc=((float(pc[0, 0]), float(pc[0, 1])), (float(pc[1, 0]), float(pc[1, 1]))),
        crota2=0.0, rsun_obs=float(meta["rsun_obs"]))
    mapping = grid_mapping(geometry, grid)
    data = np.asarray(registered.data, dtype=np.float64)
    invalid = ~np.isfinite(data)
    result = area_resample(data, mapping, invalid=invalid if invalid.any() else None)
    mean = np.where(result.coverage >= 0.999, result.mean, np.nan)
    return (mean / observation.exposure_s).astype(np.float32)
