"""PNG overlay: valid PNG of the requested size, saliency drawn where the region is (north up)."""

from __future__ import annotations

import io
import struct
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from monitor.saliency import FrameGeometry, SaliencySettings, Target, explain_maps
from monitor.saliency.overlay import render_overlay

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
G = FrameGeometry(t_obs=datetime(2024, 5, 10, 17, 0, tzinfo=UTC),
                  rsun_obs_arcsec=950.0, dsun_obs_m=1.511e11, hglt_obs_deg=-3.0, size=256)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def solar_image() -> np.ndarray:
    # Limb-darkened disk with noise, in DN/s-like units (positive, log-scaled for display).
    yy, xx = np.mgrid[0:G.size, 0:G.size]
    r = np.hypot(xx - G.grid.center, yy - G.grid.center) / G.radius_px
    disk = np.where(r < 1, 100.0 * np.sqrt(np.clip(1 - r * r, 0, 1)) + 20.0, 2.0)
    return (disk * np.random.default_rng(1).gamma(20, 1 / 20, disk.shape)).astype(np.float32)


def summary_with_blob(amp: float, x: float, y: float):  # -> SaliencySummary
    yy, xx = np.mgrid[0:G.size, 0:G.size]
    cam = amp * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 5.0 ** 2))
    return explain_maps(cam[None].astype(np.float32), [Target("class", 2, "M", 0.87)], G,
                        SaliencySettings())


@pytest.mark.parametrize("size_px", [256, 300])
def test_overlay_is_a_png_of_the_requested_size(size_px: int) -> None:
    summary = summary_with_blob(1.0, 170.0, 160.0)
    data = render_overlay(solar_image(), summary, size_px=size_px, channel_label="AIA 131 A")
    assert png_size(data) == (size_px, size_px)
    with Image.open(io.BytesIO(data)) as img:
        img.verify()   # full CRC/zlib check of the stream


def test_saliency_is_drawn_at_the_region_with_north_up() -> None:
    image = solar_image()
    x, y = 190.0, 175.0                       # west (right) and north (up) of the centre
    with_blob = summary_with_blob(1.0, x, y)
    assert with_blob.targets[0].regions[0].noaa_location is not None
    empty = summary_with_blob(0.0, x, y)
    assert empty.targets[0].regions == ()

    def pixels(summary) -> np.ndarray:
        with Image.open(io.BytesIO(render_overlay(image, summary, size_px=256))) as img:
            return np.asarray(img.convert("RGB"), dtype=np.int16)

    # Without region markers and labels, only the heat layer and contour differ.
    heat_only = replace(with_blob, targets=(replace(with_blob.targets[0], regions=()),))
    assert np.abs(pixels(with_blob) - pixels(heat_only)).sum() > 0   # markers are drawn
    diff = np.abs(pixels(heat_only) - pixels(empty)).sum(axis=2)
    rows, cols = np.nonzero(diff > 60)
    assert rows.size > 50
    # PNG row 0 is the top: north-west of centre is the upper-right quadrant.
    assert np.median(cols) > 128 + 30 and np.median(rows) < 128 - 20
    assert abs(np.median(cols) - x) < 15 and abs(np.median(rows) - (255 - y)) < 15


def test_overlay_handles_off_limb_regions_and_linear_inputs() -> None:
    summary = summary_with_blob(2.0, 20.0, 230.0)          # far outside the limb
    region = summary.targets[0].regions[0]
    assert region.on_disk is False and region.noaa_location is None
    scaled = np.random.default_rng(2).standard_normal((G.size, G.size)).astype(np.float32)
    data = render_overlay(scaled, summary, size_px=128, scale="linear")
    assert png_size(data) == (128, 128)
    with pytest.raises(ValueError, match="grid"):
        render_overlay(np.zeros((64, 64), np.float32), summary)


def test_overlay_channel_falls_back_to_the_first(caplog: pytest.LogCaptureFixture) -> None:
    from monitor.saliency.overlay import overlay_channel_index

    assert overlay_channel_index((94, 131, 171), 131) == 1
    with caplog.at_level("WARNING", logger="monitor.saliency.overlay"):
        assert overlay_channel_index((171, 193), 131) == 0
    assert "overlay channel not in the model" in caplog.text
