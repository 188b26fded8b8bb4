"""The model grid: the one geometry every image is brought to before inference.

Both paths that produce model inputs -- files through ``monitor.preprocess`` and
the synthetic dataset API in ``monitor.synth`` -- must agree on it exactly, or
a model trained on one would see shifted or rescaled Suns from the other.

Convention (after aiapy's ``register`` and the SDOML data set): solar north up,
the Sun's centre at the geometric centre of the grid, and a fixed solar radius
in pixels that scales with the grid size as the AIA full-resolution image does
(1600 px of radius at 4096 px, i.e. 960 arcsec at 0.6 arcsec/px).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RADIUS_FRACTION", "ModelGrid"]

#: Solar radius as a fraction of the grid width (1600 / 4096).
RADIUS_FRACTION: float = 1600.0 / 4096.0


@dataclass(frozen=True)
class ModelGrid:
    """Square image grid of ``size`` pixels with the Sun centred and of fixed radius.

    Parameters
    ----------
    size : int
        Width and height in pixels (e.g. 256 or 512).
    """

    size: int

    @property
    def center(self) -> float:
        """0-based pixel coordinate of the Sun's centre on both axes."""
        return (self.size - 1) / 2.0

    @property
    def radius_px(self) -> float:
        """Solar radius in grid pixels."""
        return RADIUS_FRACTION * self.size

    def arcsec_per_px(self, rsun_arcsec: float) -> float:
        """Plate scale of the grid for an observer who sees the Sun at ``rsun_arcsec``."""
        return rsun_arcsec / self.radius_px
