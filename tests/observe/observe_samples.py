"""Schema-valid sample payloads for the API tests (frames, saliency, alerts).

Every payload is built the way the pipeline builds it and validated against
the message JSON Schemas (``make_event`` validates), so the HTTP layer is
tested on data of the real shape.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.alerts import AlertEvent
from monitor.models import manifest_from_spec
from monitor.models.provenance import UNDECLARED, ModelIdentity
from monitor.pipeline.messages import alert_data
from monitor.pipeline.view import ChannelEntry, FrameEntry
from monitor.publish.envelope import make_event, rfc3339

__all__ = ["MODEL", "T0", "alert_payload", "frame_entry", "frame_payload", "saliency_payload"]

T0 = datetime(2015, 1, 4, 15, 0, tzinfo=UTC)
_MANIFEST = manifest_from_spec(None)
_SHA = "ab" * 32
MODEL = ModelIdentity("sdo-cnn", "1.0.0", _SHA, UNDECLARED)
_MODEL = MODEL.to_dict()


def frame_id(i: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"frame-{i}"))


def frame_payload(i: int, *, t: datetime | None = None, flare: float = 0.0,
                  channels: tuple[int, ...] = (94, 131, 171, 193, 211, 304, 335),
                  quality: int = 0) -> dict[str, Any]:
    """Frame ``i`` at ``T0 + i minutes``; ``flare`` in [0, 1] raises M/X and the hot lines."""
    t = t or T0 + timedelta(minutes=i)
    classes = _MANIFEST.classes.classes
    raw = {"none": 1.0 - flare, "C": 0.3, "M": 0.6 * flare + 0.01, "X": 0.3 * flare + 0.01}
    total = sum(raw[c] for c in classes)
    probs = {c: raw[c] / total for c in classes}
    data = {
        "frame_id": frame_id(i), "t_obs": rfc3339(t),
        "inputs": [{"path": f"/srv/sdo/incoming/aia.lev1.{c}A_{t:%Y-%m-%dT%H-%M-%S}.fits",
                    "channel": c, "t_obs": rfc3339(t), "quality": quality, "quality_flags": [],
                    "sha256": _SHA} for c in channels],
        "missing_channels": [], "class_probabilities": probs,
        "predicted_class": max(probs, key=probs.__getitem__), "goes_class_estimate": None,
        "irradiance": [{"line": line.name, "ion": line.ion,
                        "wavelength_nm": float(line.wavelength_nm),
                        "value_w_m2": 1e-5 * (1 + k) * (1 + 3 * flare) * (1 + 0.1 * math.sin(i))}
                       for k, line in enumerate(_MANIFEST.lines)],
        "model": _MODEL, "backend": "onnxruntime-fp32",
        "latencies_s": {"inference": 0.01, "saliency": 0.02}, "flags": [],
    }
    make_event("frame.analyzed", data, source="urn:sdo-monitor:test", time=t)
    return data


def saliency_payload(i: int, *, t: datetime | None = None) -> dict[str, Any]:
    t = t or T0 + timedelta(minutes=i)
    region = {"rank": 1, "hpc_x_arcsec": -310.5, "hpc_y_arcsec": 240.0, "hgs_lon_deg": -19.0,
              "hgs_lat_deg": 15.2, "noaa_location": "N15E19", "on_disk": True,
              "area_msh": 52000.0, "area_arcsec2": 3.6e4, "peak": 0.93, "share": 0.62,
              "flare": {"hpc_x_arcsec": -298.1, "hpc_y_arcsec": 251.7, "hgs_lon_deg": -18.3,
                        "hgs_lat_deg": 15.9, "noaa_location": "N16E18", "on_disk": True,
                        "area_msh": 180.0, "area_arcsec2": 850.0, "channels": [94, 131]}}
    data = {"frame_id": frame_id(i), "t_obs": rfc3339(t), "model": _MODEL, "method": "cam",
            "targets": [{"target": "M", "kind": "class", "score": 0.4, "regions": [region]}],
            "overlay_url": f"/api/v1/saliency/{frame_id(i)}.png"}
    make_event("saliency", data, source="urn:sdo-monitor:test", time=t)
    return data


def alert_payload(i: int, state: str = "firing", rule: str = "flare_m_class") -> dict[str, Any]:
    started = T0 + timedelta(minutes=i)
    event = AlertEvent(
        alert_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"alert-{rule}-{i}")), rule=rule, feed="aia",
        state=state, severity="warning", noaa_scale="R1", started_at=started,
        resolved_at=started + timedelta(minutes=30) if state == "resolved" else None,
        evidence_frames=(frame_id(i),), peak_probability=0.7, location=None,
        message=f"{rule} (R1) {state}: peak probability 0.70")
    data = alert_data(event, MODEL)
    make_event("alert", data, source="urn:sdo-monitor:test", time=started)
    return data


def frame_entry(i: int, *, saliency: bool = False, **kwargs: Any) -> FrameEntry:
    """Frame ``i`` as the API's memory takes it from the pipeline (see :func:`frame_payload`)."""
    data = frame_payload(i, **kwargs)
    t = datetime.fromisoformat(data["t_obs"])
    return FrameEntry(
        data["frame_id"], "aia", t.timestamp(),
        tuple(ChannelEntry(item["channel"], t, item["path"].rsplit("/", 1)[-1], item["quality"])
              for item in data["inputs"]),
        {line["line"]: line["value_w_m2"] for line in data["irradiance"]},
        dict(data["class_probabilities"]), data,
        saliency_payload(i, t=kwargs.get("t")) if saliency else None)
