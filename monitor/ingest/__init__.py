"""Ingest: AIA files (FITS level 1/1.5, RICE or not; Helioviewer JPEG 2000) to observations.

The daemon calls :func:`read_observation` per file (in a worker pool) and gets
an :class:`IngestResult`: an :class:`Observation` with its :class:`ImageData`,
or a :class:`Rejection` whose :class:`RejectReason` comes from a closed,
documented set. See ``docs/ingest.md``.
"""

from monitor.ingest.header import parse_obs_time
from monitor.ingest.quality import QUALITY_BITS, evaluate_quality
from monitor.ingest.reader import read_observation
from monitor.ingest.reasons import REASON_MEANINGS, Rejection, RejectReason
from monitor.ingest.records import (
    Geometry,
    ImageData,
    IngestResult,
    Observation,
    ObservationKey,
    observation_key,
)
from monitor.ingest.settings import IngestSettings, PixelChecks, QualityPolicy

__all__ = [
    "QUALITY_BITS",
    "REASON_MEANINGS",
    "Geometry",
    "ImageData",
    "IngestResult",
    "IngestSettings",
    "Observation",
    "ObservationKey",
    "PixelChecks",
    "QualityPolicy",
    "RejectReason",
    "Rejection",
    "evaluate_quality",
    "observation_key",
    "parse_obs_time",
    "read_observation",
]
