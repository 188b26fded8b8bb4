"""Preprocessing: ingested observations to calibrated DN/s on the model grid (fast path).

:func:`preprocess` maps one observation through its header WCS onto a
:class:`monitor.grid.ModelGrid` in a single area-averaging step and calibrates
it (exposure, instrument degradation). :func:`apply_scaling` then applies the
model package's per-channel :class:`ChannelScaling` to a ``(C, N, N)`` stack.
See ``docs/ingest.md`` for the geometry and the tolerances against the slow
path in :mod:`monitor.preprocess.reference`.
"""

from monitor.preprocess.calibrate import (
    AppliedFactor,
    CalibrationUnavailable,
    DegradationTable,
    load_degradation_table,
)
from monitor.preprocess.geometry import GridMapping, grid_mapping
from monitor.preprocess.pipeline import (
    PreprocessError,
    PreprocessResult,
    preprocess,
    preprocess_detailed,
)
from monitor.preprocess.resample import ResampleResult, area_resample
from monitor.preprocess.settings import PreprocessSettings
from monitor.scaling import ChannelScaling, apply_scaling

__all__ = [
    "AppliedFactor",
    "CalibrationUnavailable",
    "ChannelScaling",
    "DegradationTable",
    "GridMapping",
    "PreprocessError",
    "PreprocessResult",
    "PreprocessSettings",
    "ResampleResult",
    "apply_scaling",
    "area_resample",
    "grid_mapping",
    "load_degradation_table",
    "preprocess",
    "preprocess_detailed",
]
