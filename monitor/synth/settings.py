"""What ``sdo-monitor synth`` and the demo may ask the synthetic feed for."""

from __future__ import annotations

__all__ = ["SIZES"]

#: Image sizes the generator writes (4096 = AIA full resolution, 0.6 arcsec/px).
SIZES: tuple[int, ...] = (512, 1024, 2048, 4096)
