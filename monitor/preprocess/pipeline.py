"""The fast path: an ingested observation to DN/s on the model grid.

Order of work (all per-pixel work happens once, at the target resolution):

1. geometry: the affine map grid -> input from the header WCS;
2. one area-averaging resampling of the stored integers (BLANK excluded);
3. linear calibration on the small grid image: BSCALE/BZERO, / EXPTIME,
   / degradation factor (from a :class:`DegradationTable`, when given);
4. fill poorly covered grid pixels.

Scaling for the network is separate (:mod:`monitor.scaling`) so the
daemon can stack channels first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from monitor.grid import ModelGrid
from monitor.ingest.reasons import Rejection, RejectReason
from monitor.ingest.records import ImageData, Observation
from monitor.preprocess.calibrate import AppliedFactor, CalibrationUnavailable, DegradationTable
from monitor.preprocess.geometry import GridMapping, grid_mapping
from monitor.preprocess.resample import area_resample
from monitor.preprocess.settings import PreprocessSettings

__all__ = ["PreprocessError", "PreprocessResult", "preprocess", "preprocess_detailed"]


class PreprocessError(Exception):
    """An observation that cannot be put on the grid, with a reason code."""

    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def to_rejection(self, observation: Observation) -> Rejection:
        """The rejection record for the rejects topic and counters."""
        return Rejection(path=observation.path, reason=self.reason, message=self.message,
                         wavelength=observation.wavelength, t_obs=observation.t_obs,
                         content_sha256=observation.content_sha256,
                         size_bytes=observation.size_bytes)


@dataclass(frozen=True)
class PreprocessResult:
    """Grid image plus what was done to make it.

    Attributes
    ----------
    data : numpy.ndarray
        ``(N, N)`` float32 DN/s per 0.6" pixel, row 0 = south.
    coverage : numpy.ndarray
        ``(N, N)`` valid fraction of each grid pixel's box.
    covered_fraction : float
        Fraction of grid pixels with at least ``min_pixel_coverage``.
    mapping : GridMapping
        The geometry used.
    box_px : int
        Averaging box side in input pixels.
    degradation : AppliedFactor or None
        The degradation factor divided out (None when no table was given).
    timings_s : dict
        Seconds per step (``resample``, ``calibrate``).
    """

    data: np.ndarray
    coverage: np.ndarray
    covered_fraction: float
    mapping: GridMapping
    box_px: int
    degradation: AppliedFactor | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def degradation_factor(self) -> float:
        """The divisor applied (1.0 without a table)."""
        return self.degradation.factor if self.degradation is not None else 1.0


def preprocess_detailed(observation: Observation, image: ImageData, grid: ModelGrid,
                        settings: PreprocessSettings | None = None, *,
                        degradation: DegradationTable | None = None,
                        spare_threads: int = 1) -> PreprocessResult:
    """Bring one observation onto ``grid`` in calibrated DN/s.

    Parameters
    ----------
    observation, image : from :func:`monitor.ingest.read_observation`
    grid : ModelGrid
    settings : PreprocessSettings, optional
    degradation : DegradationTable, optional
        Divide by the channel's degradation factor at ``t_obs``.
    spare_threads : int
        Cores otherwise idle (the daemon's idle pool workers): the resampling
        uses ``max(settings.threads, spare_threads)`` bands; the result is the
        same for any number.

    Raises
    ------
    PreprocessError
        NO_GRID_OVERLAP or CALIBRATION_UNAVAILABLE.
    """
    settings = settings or PreprocessSettings()
    t0 = time.perf_counter()
    mapping = grid_mapping(observation.geometry, grid)
    if image.pixels.shape != mapping.input_shape:
        raise ValueError(f"image shape {image.pixels.shape} does not match the geometry "
                         f"{mapping.input_shape}")
    invalid = invalid_index = None
    if image.invalid_index is not None:
        invalid_index = image.invalid_index
    elif image.n_invalid != 0:
        invalid = image.invalid_mask()
        if invalid is not None and image.n_invalid is None and not invalid.any():
            invalid = None
    resampled = area_resample(image.pixels, mapping, invalid=invalid,
                              invalid_index=invalid_index,
                              threads=max(settings.threads, spare_threads))
    t1 = time.perf_counter()

    applied = None
    if degradation is not None:
        try:
            applied = degradation.applied(observation.wavelength, observation.t_obs)
        except CalibrationUnavailable as exc:
            raise PreprocessError(RejectReason.CALIBRATION_UNAVAILABLE, str(exc)) from None
    factor = applied.factor if applied is not None else 1.0
    # DN = bzero + bscale * raw, then per second and per unit of sensitivity.
    gain = image.bscale / (observation.exposure_s * factor)
    bias = image.bzero / (observation.exposure_s * factor)
    data = resampled.mean
    data *= gain
    if bias:
        data += bias
    if resampled.complete:
        covered_fraction, uncovered = 1.0, None
    else:
        uncovered = resampled.coverage < settings.min_pixel_coverage
        covered_fraction = 1.0 - float(np.count_nonzero(uncovered)) / uncovered.size
    if covered_fraction < settings.min_grid_coverage:
        raise PreprocessError(RejectReason.NO_GRID_OVERLAP,
                              f"image covers {covered_fraction:.1%} of the grid "
                              f"(minimum {settings.min_grid_coverage:.1%})")
    out = data.astype(np.float32)
    if uncovered is not None:
        out[uncovered] = settings.fill_value
    t2 = time.perf_counter()
    return PreprocessResult(data=out, coverage=resampled.coverage,
                            covered_fraction=covered_fraction, mapping=mapping,
                            box_px=resampled.box_px, degradation=applied,
                            timings_s={"resample": t1 - t0, "calibrate": t2 - t1})


def preprocess(observation: Observation, image: ImageData, grid: ModelGrid,
               settings: PreprocessSettings | None = None, *,
               degradation: DegradationTable | None = None) -> np.ndarray:
    """Like :func:`preprocess_detailed` but return only the ``(N, N)`` float32 DN/s image."""
    return preprocess_detailed(observation, image, grid, settings,
                               degradation=degradation).data
