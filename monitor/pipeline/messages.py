"""Typed pipeline results to CloudEvents payloads (``data``): the publishing edge.

The only place the pipeline's values become wire dicts. The field names and
shapes follow the JSON Schemas in ``monitor/publish/schemas``;
:func:`monitor.publish.envelope.make_event` validates every payload built here
before it reaches the outbox.
"""

from __future__ import annotations

from typing import Any

from monitor.alerts import AlertEvent
from monitor.ingest import Observation
from monitor.models.provenance import ModelIdentity
from monitor.pipeline.analysis import AnalysedFrame, IrradianceLine, ShadowResult
from monitor.pipeline.handoffs import FileRejection
from monitor.preprocess import AppliedFactor
from monitor.publish.envelope import rfc3339

__all__ = ["alert_data", "frame_data", "quality_codes", "rejection_data", "saliency_data",
           "shadow_data"]


def _input(observation: Observation, degradation: AppliedFactor | None) -> dict[str, Any]:
    return {"path": observation.path, "channel": observation.wavelength,
            "t_obs": rfc3339(observation.t_obs), "quality": int(observation.quality),
            "quality_flags": quality_codes(observation),
            "sha256": observation.content_sha256,
            "degradation_factor": degradation.factor if degradation else 1.0,
            "degradation_extrapolated_days":
                round(degradation.extrapolated_days, 3) if degradation else 0.0}


def quality_codes(observation: Observation) -> list[str]:
    """The file's quality flags as the messages name them (lowercase identifiers)."""
    return sorted({_code(f) for f in observation.quality_flags})


def _code(text: str) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")
    return cleaned if cleaned and cleaned[0].isalpha() else f"f_{cleaned}"


def frame_data(done: AnalysedFrame) -> dict[str, Any]:
    """``frame.analyzed.v1`` payload.

    The frame's located flare (:meth:`monitor.saliency.SaliencySummary.flare`)
    goes out as ``flare_location``, with the package's measured
    ``pointing_error_arcsec``, when its class is the predicted one. Each input
    carries the degradation factor divided out of it (1.0 without correction).
    """
    flare = done.flare
    return {
        "frame_id": done.frame_id,
        "t_obs": rfc3339(done.t_obs),
        "inputs": [_input(o, done.degradation.get(o.wavelength)) for o in done.observations],
        "missing_channels": list(done.missing),
        "class_probabilities": dict(done.probabilities),
        "predicted_class": done.predicted_class,
        "goes_class_estimate": None,
        "irradiance": _irradiance(done.irradiance),
        "model": done.model.to_dict(),
        "backend": done.backend,
        "latencies_s": {k: max(0.0, float(v)) for k, v in done.timings_s.items()},
        "flags": list(done.flags),
        "flare_location": None if flare is None or flare[0] != done.predicted_class else {
            "target": done.predicted_class, **flare[1].to_dict(),
            "pointing_error_arcsec": done.pointing_error_arcsec},
    }


def _irradiance(lines: tuple[IrradianceLine, ...]) -> list[dict[str, Any]]:
    return [{"line": line.name, "ion": line.ion, "wavelength_nm": line.wavelength_nm,
             "value_w_m2": line.value_w_m2} for line in lines]


def shadow_data(result: ShadowResult) -> dict[str, Any]:
    """``frame.shadow.v1`` payload: a shadow package's result for one frame."""
    return {
        "frame_id": result.frame_id,
        "t_obs": rfc3339(result.t_obs),
        "class_probabilities": dict(result.probabilities),
        "predicted_class": result.predicted_class,
        "irradiance": _irradiance(result.irradiance),
        "model": result.model.to_dict(),
        "champion": result.champion.to_dict(),
        "backend": result.backend,
        "latencies_s": {k: max(0.0, float(v)) for k, v in result.timings_s.items()},
        "flags": list(result.flags),
    }


def saliency_data(done: AnalysedFrame) -> dict[str, Any] | None:
    """``saliency.v1`` payload (None when the frame was not explained)."""
    if done.saliency is None:
        return None
    summary = done.saliency.to_dict()
    return {"frame_id": done.frame_id, "t_obs": rfc3339(done.t_obs),
            "model": done.model.to_dict(),
            "method": summary["method"], "targets": summary["targets"],
            "overlay_url": done.overlay_url}


def alert_data(event: AlertEvent, model: ModelIdentity) -> dict[str, Any]:
    """``alert.v1`` payload; ``model`` is the package of the frame that decided it."""
    return {
        "alert_id": event.alert_id, "rule": event.rule, "state": event.state,
        "severity": event.severity, "noaa_scale": event.noaa_scale,
        "started_at": rfc3339(event.started_at),
        "resolved_at": rfc3339(event.resolved_at) if event.resolved_at else None,
        "evidence_frames": list(event.evidence_frames),
        "peak_probability": float(event.peak_probability),
        "location": event.location, "message": event.message,
        "model": model.to_dict(),
    }


def rejection_data(rejection: FileRejection) -> dict[str, Any]:
    """``input.rejected.v1`` payload."""
    return {"path": rejection.path, "feed": rejection.feed, "reason": rejection.reason,
            "detail": rejection.detail[:2000], "size_bytes": rejection.size_bytes,
            "sha256": rejection.sha256}
