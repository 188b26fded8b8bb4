"""Pipeline results to CloudEvents payloads (``data``) of the four message types.

The field names and shapes follow the JSON Schemas in
``monitor/publish/schemas``; :func:`monitor.publish.envelope.make_event`
validates every payload built here before it reaches the outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from monitor.alerts import AlertEvent
from monitor.ingest import Observation, Rejection
from monitor.models import ModelPackage
from monitor.publish.envelope import rfc3339
from monitor.saliency.regions import FlareLocation

__all__ = ["PIPELINE_REASONS", "alert_data", "frame_data", "model_ref",
           "rejection_data", "rejection_from_ingest", "saliency_data", "softmax"]

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


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def model_ref(package: ModelPackage) -> dict[str, str]:
    """The ``model`` object of frame and saliency messages."""
    return {"name": package.manifest.name, "version": package.manifest.version,
            "sha256": package.sha256}


def _input(observation: Observation) -> dict[str, Any]:
    return {"path": observation.path, "channel": observation.wavelength,
            "t_obs": rfc3339(observation.t_obs), "quality": int(observation.quality),
            "quality_flags": sorted({_code(f) for f in observation.quality_flags}),
            "sha256": observation.content_sha256}


def _code(text: str) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")
    return cleaned if cleaned and cleaned[0].isalpha() else f"f_{cleaned}"


def frame_data(*, frame_id: str, t_obs: datetime, observations: Sequence[Observation],
               missing: Sequence[int], probabilities: np.ndarray, irradiance_w_m2: np.ndarray,
               package: ModelPackage, backend: str, latencies_s: dict[str, float],
               flags: Sequence[str], flare: tuple[str, FlareLocation] | None = None,
               pointing_error_arcsec: dict[str, Any] | None = None) -> dict[str, Any]:
    """``frame.analyzed.v1`` payload.

    ``flare`` is an explained class and its located flare
    (:meth:`monitor.saliency.SaliencySummary.flare`); when that class is the
    predicted one it goes out, with the package's measured
    ``pointing_error_arcsec``, as ``flare_location``.
    """
    manifest = package.manifest
    classes = manifest.classes.classes
    probs = {name: float(np.clip(p, 0.0, 1.0)) for name, p in zip(classes, probabilities)}
    predicted = classes[int(np.argmax(probabilities))]
    return {
        "frame_id": frame_id,
        "t_obs": rfc3339(t_obs),
        "inputs": [_input(o) for o in sorted(observations, key=lambda o: o.wavelength)],
        "missing_channels": sorted(missing),
        "class_probabilities": probs,
        "predicted_class": predicted,
        "goes_class_estimate": None,
        "irradiance": [
            {"line": line.name, "ion": line.ion, "wavelength_nm": float(line.wavelength_nm),
             "value_w_m2": float(value)}
            for line, value in zip(manifest.lines, irradiance_w_m2)],
        "model": model_ref(package),
        "backend": backend,
        "latencies_s": {k: max(0.0, float(v)) for k, v in latencies_s.items()},
        "flags": sorted(set(flags)),
        "flare_location": None if flare is None or flare[0] != predicted else {
            "target": predicted, **flare[1].to_dict(),
            "pointing_error_arcsec": pointing_error_arcsec},
    }


def saliency_data(*, frame_id: str, t_obs: datetime, package: ModelPackage,
                  summary: dict[str, Any], overlay_url: str | None) -> dict[str, Any]:
    """``saliency.v1`` payload from :meth:`SaliencySummary.to_dict`."""
    return {"frame_id": frame_id, "t_obs": rfc3339(t_obs), "model": model_ref(package),
            "method": summary["method"], "targets": summary["targets"],
            "overlay_url": overlay_url}


def alert_data(event: AlertEvent) -> dict[str, Any]:
    """``alert.v1`` payload."""
    return {
        "alert_id": event.alert_id, "rule": event.rule, "state": event.state,
        "severity": event.severity, "noaa_scale": event.noaa_scale,
        "started_at": rfc3339(event.started_at),
        "resolved_at": rfc3339(event.resolved_at) if event.resolved_at else None,
        "evidence_frames": list(event.evidence_frames),
        "peak_probability": float(event.peak_probability),
        "location": event.location, "message": event.message,
    }


def rejection_data(*, path: str, feed: str, reason: str, detail: str,
                   size_bytes: int | None = None, sha256: str | None = None) -> dict[str, Any]:
    """``input.rejected.v1`` payload."""
    return {"path": path, "feed": feed, "reason": reason, "detail": detail[:2000],
            "size_bytes": size_bytes, "sha256": sha256}


def rejection_from_ingest(rejection: Rejection, feed: str) -> dict[str, Any]:
    """``input.rejected.v1`` payload for a file the ingest layer refused."""
    return rejection_data(path=rejection.path, feed=feed, reason=str(rejection.reason),
                          detail=rejection.message, size_bytes=rejection.size_bytes,
                          sha256=rejection.content_sha256)

