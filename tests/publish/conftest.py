"""Fixtures of the publishing tests: one realistic ``data`` example per message type."""

from __future__ import annotations

import copy
from typing import Any

import pytest

_SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
_MODEL = {"name": "sdo-flare-eve", "version": "1.0.0", "sha256": _SHA,
          "provenance": {"data": "real", "source": "SDOML v2", "start": "2011-01-01",
                         "end": "2014-05-26"}}
_REGION: dict[str, Any] = {
    "rank": 1, "hpc_x_arcsec": 412.5, "hpc_y_arcsec": 233.1, "hgs_lon_deg": 27.4,
    "hgs_lat_deg": 15.2, "noaa_location": "N15W27", "on_disk": True, "area_msh": 310.0,
    "area_arcsec2": 5120.0, "peak": 0.93, "share": 0.41}
_FLARE: dict[str, Any] = {
    "hpc_x_arcsec": 420.2, "hpc_y_arcsec": 240.6, "hgs_lon_deg": 27.9, "hgs_lat_deg": 15.6,
    "noaa_location": "N16W28", "on_disk": True, "area_msh": 210.5, "area_arcsec2": 1030.0,
    "channels": [94, 131]}
_FLARED_REGION: dict[str, Any] = {**_REGION, "flare": _FLARE}

EXAMPLES: dict[str, dict[str, Any]] = {
    "frame.analyzed": {
        "frame_id": "aia-20240510T120000Z",
        "t_obs": "2024-05-10T12:00:00.000Z",
        "inputs": [
            {"path": "/var/spool/sdo/aia.lev1_euv_12s.2024-05-10T120000Z.171.image_lev1.fits",
             "channel": 171, "t_obs": "2024-05-10T12:00:09.350Z", "quality": 0,
             "quality_flags": [], "sha256": _SHA},
            {"path": "/var/spool/sdo/aia.lev1_euv_12s.2024-05-10T120000Z.193.image_lev1.fits",
             "channel": 193, "t_obs": "2024-05-10T12:00:04.840Z", "quality": 1024,
             "quality_flags": ["aec_low"], "sha256": _SHA}],
        "class_probabilities": {"quiet": 0.05, "C": 0.2, "M": 0.6, "X": 0.15},
        "predicted_class": "M",
        "goes_class_estimate": "M2.3",
        "irradiance": [
            {"line": "Fe XVIII 9.39", "ion": "Fe XVIII", "wavelength_nm": 9.39,
             "value_w_m2": 6.1e-06},
            {"line": "He II 30.38", "ion": "He II", "wavelength_nm": 30.38,
             "value_w_m2": 5.2e-04}],
        "model": _MODEL,
        "backend": "onnxruntime-cpu",
        "latencies_s": {"ingest": 0.21, "preprocess": 0.08, "queue": 0.01, "inference": 0.05},
        "flags": ["partial_frame"],
        "missing_channels": [94],
        "flare_location": {"target": "M", **_FLARE, "channels": [131],
                           "pointing_error_arcsec": {"median": 2.3, "p90": 4.0, "frames": 74}},
    },
    "saliency": {
        "frame_id": "aia-20240510T120000Z",
        "t_obs": "2024-05-10T12:00:00.000Z",
        "model": _MODEL,
        "method": "cam",
        "targets": [{"target": "M", "kind": "class", "score": 0.6, "regions": [
            _FLARED_REGION,
            {**_REGION, "rank": 2, "hpc_x_arcsec": -980.0, "hpc_y_arcsec": 10.0,
             "hgs_lon_deg": None, "hgs_lat_deg": None, "noaa_location": None,
             "on_disk": False, "area_msh": None, "peak": 0.2, "share": 0.1, "flare": None}]}],
        "overlay_url": "http://127.0.0.1:9464/api/v1/saliency/aia-20240510T120000Z.png",
    },
    "alert": {
        "alert_id": "flare-m1-20240510T120000Z",
        "rule": "flare-m1",
        "state": "firing",
        "severity": "warning",
        "noaa_scale": "R1",
        "target": "M",
        "threshold": 0.5,
        "started_at": "2024-05-10T12:00:00.000Z",
        "resolved_at": None,
        "evidence_frames": ["aia-20240510T115948Z", "aia-20240510T120000Z"],
        "peak_probability": 0.6,
        "location": _FLARED_REGION,
        "message": "M-class flare probability 0.60 >= 0.50 for 2 frames near N15W27 (R1)",
        "model": _MODEL,
    },
    "input.rejected": {
        "path": "/var/spool/sdo/broken.fits",
        "feed": "spool-nrt",
        "reason": "unreadable",
        "detail": "FITS header ends before END card",
        "size_bytes": 2880,
        "sha256": _SHA,
    },
}


@pytest.fixture
def example_data() -> dict[str, dict[str, Any]]:
    """A fresh deep copy of the examples (tests may break them)."""
    return copy.deepcopy(EXAMPLES)
