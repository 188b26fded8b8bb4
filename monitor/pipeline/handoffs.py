"""The typed values one pipeline stage hands the next.

One file's journey: a source's :class:`~monitor.sources.FileArrival` ->
:class:`IngestedFile` (decoded and on the model grid, made in the worker pool)
-> a :class:`~monitor.frames.Frame` of ingested files, queued as a
:class:`QueuedFrame` -> an :class:`~monitor.pipeline.analysis.AnalysedFrame`
-> messages, which :mod:`monitor.pipeline.messages` makes at the publishing
edge and nowhere else. A file that leaves the path early leaves it as a
:class:`FileRejection`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from monitor.frames import Frame
from monitor.ingest import Observation, Rejection
from monitor.preprocess import AppliedFactor

__all__ = ["PIPELINE_REASONS", "FileRejection", "IngestedFile", "QueuedFrame"]

#: Pipeline-level reasons (the ingest layer has its own closed set).
PIPELINE_REASONS = {
    "duplicate": "the same observation (telescope, wavelength, T_OBS) or the same bytes "
                 "were already processed under another name",
    "incomplete_frame": "the frame's window closed with channels missing",
    "late_channel": "the channel arrived after its frame was analysed",
    "duplicate_channel": "a second file for a channel already present in the frame",
    "overload_dropped": "live mode dropped the frame to keep up with newer data",
    "channel_not_used": "the model does not use this channel",
    "retries_exhausted": "the file could not be processed after repeated attempts",
    "t_obs_in_future": "the observation time lies ahead of this host's clock by more than "
                       "service.max_future_s (a broken clock upstream, or ours)",
}


@dataclass(frozen=True)
class IngestedFile:
    """One file after the worker pool: an observation with its grid image, or a rejection.

    Everything here crosses the pool boundary, so it stays small: the full
    resolution image stays in the worker.
    """

    path: str
    observation: Observation | None = None
    grid_image: np.ndarray | None = None
    rejection: Rejection | None = None
    degradation: AppliedFactor | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.rejection is None and self.observation is not None


@dataclass(frozen=True)
class QueuedFrame:
    """A frame waiting for analysis, with the flags its assembly gave it."""

    frame: Frame[IngestedFile]
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileRejection:
    """Why one file ends without a frame (an ``input.rejected.v1`` message at the edge)."""

    path: str
    feed: str
    reason: str
    detail: str
    size_bytes: int | None = None
    sha256: str | None = None
    outcome: Literal["rejected", "duplicate"] = "rejected"

    @classmethod
    def from_ingest(cls, rejection: Rejection, feed: str) -> FileRejection:
        """A file the ingest layer refused (its own reason codes)."""
        return cls(rejection.path, feed, str(rejection.reason), rejection.message,
                   rejection.size_bytes, rejection.content_sha256)

    @classmethod
    def of(cls, ingested: IngestedFile, feed: str, reason: str, detail: str,
           outcome: Literal["rejected", "duplicate"] = "rejected") -> FileRejection:
        """A decoded file the pipeline refused (a :data:`PIPELINE_REASONS` code)."""
        obs = ingested.observation
        return cls(ingested.path, feed, reason, detail, obs.size_bytes if obs else None,
                   obs.content_sha256 if obs else None, outcome)
