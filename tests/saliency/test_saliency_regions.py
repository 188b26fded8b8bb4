"""Regions: ranking, shares, areas (deprojected), and the per-frame explain() entry point."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from monitor.saliency import (
    FrameGeometry,
    HeadWeights,
    SaliencySettings,
    Target,
    explain,
    explain_maps,
    explain_outputs,
    extract_regions,
)
from monitor.saliency.regions import SaliencyRegion

T_OBS = datetime(2024, 3, 20, 6, 0, tzinfo=UTC)
SCHEMA = Path(__file__).resolve().parents[2] / "monitor/publish/schemas/saliency.v1.schema.json"
REGION_KEYS = ["rank", "hpc_x_arcsec", "hpc_y_arcsec", "hgs_lon_deg", "hgs_lat_deg",
               "noaa_location", "on_disk", "area_msh", "area_arcsec2", "peak", "share", "flare"]


def geometry(size: int = 256, b0: float = 0.0) -> FrameGeometry:
    return FrameGeometry(t_obs=T_OBS, rsun_obs_arcsec=963.0, dsun_obs_m=1.4906e11,
                         hglt_obs_deg=b0, size=size)


def blob(size: int, x: float, y: float, sigma: float, amp: float = 1.0) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    return (amp * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))).astype(np.float32)


def test_two_blobs_ranked_by_integrated_saliency_not_peak() -> None:
    g = geometry()
    sharp = blob(g.size, 90, 150, sigma=2.0, amp=1.0)   # higher peak, small
    broad = blob(g.size, 160, 100, sigma=7.0, amp=0.8)  # lower peak, large
    regions = extract_regions(sharp + broad, g, threshold_fraction=0.3, top_k=5)
    assert [r.rank for r in regions] == [1, 2]
    first, second = regions
    assert (first.centroid_x_px, first.centroid_y_px) == pytest.approx((160, 100), abs=0.1)
    assert (second.centroid_x_px, second.centroid_y_px) == pytest.approx((90, 150), abs=0.1)
    assert first.peak == pytest.approx(0.8, rel=0.01) and second.peak == pytest.approx(1.0, rel=0.01)
    assert first.share > second.share > 0
    assert first.share + second.share <= 1.0
    # Shares are of the whole map: the thresholded cores hold most, not all, of it.
    assert 0.5 < first.share + second.share < 1.0
    assert all(r.area_arcsec2 > 0 and r.area_msh is not None and r.area_msh > 0
               for r in regions)
    assert first.area_arcsec2 > second.area_arcsec2
    assert extract_regions(sharp + broad, g, threshold_fraction=0.3, top_k=1)[0] == first


def test_disc_centre_area_matches_the_spherical_cap() -> None:
    # A Gaussian thresholded at f covers a projected disc of radius a = sigma*sqrt(-2 ln f);
    # on the sphere that is a cap of area 2 pi R^2 (1 - sqrt(1 - (a/R)^2)).
    g = geometry(size=512)
    sigma, f = 16.0, 0.5
    c = g.grid.center
    (region,) = extract_regions(blob(g.size, c, c, sigma), g, threshold_fraction=f)
    a = sigma * math.sqrt(-2.0 * math.log(f)) / g.radius_px
    expected_msh = 1e6 * (1.0 - math.sqrt(1.0 - a * a))
    assert region.area_msh == pytest.approx(expected_msh, rel=0.02)
    expected_arcsec2 = math.pi * (a * g.rsun_obs_arcsec) ** 2
    assert region.area_arcsec2 == pytest.approx(expected_arcsec2, rel=0.02)


def test_foreshortened_region_is_deprojected() -> None:
    # The same projected blob near mu = 0.5 covers about twice the solar surface.
    g = geometry()
    c, r = g.grid.center, g.radius_px
    shift = round(math.sqrt(1 - 0.5 ** 2) * r)   # whole pixels: same sampling of both blobs
    mu = float(g.mu(np.array([c + shift]), np.array([c]))[0])
    assert mu == pytest.approx(0.5, abs=0.01)
    (centre,) = extract_regions(blob(g.size, c, c, 5.0), g)
    (limbward,) = extract_regions(blob(g.size, c + shift, c, 5.0), g)
    assert limbward.area_arcsec2 == centre.area_arcsec2
    assert limbward.area_msh / centre.area_msh == pytest.approx(1.0 / mu, rel=0.05)


def test_flat_and_tiny_maps() -> None:
    g = geometry(size=64)
    assert extract_regions(np.zeros((64, 64), np.float32), g) == []
    single = np.zeros((64, 64), np.float32)
    single[10, 10] = 1.0
    assert extract_regions(single, g, min_region_px=4) == []
    assert len(extract_regions(single, g, min_region_px=1)) == 1
    with pytest.raises(ValueError, match="grid"):
        extract_regions(np.zeros((32, 32), np.float32), g)


def heads(num_features: int = 4) -> HeadWeights:
    cw = np.zeros((4, num_features), np.float32)
    cw[2, 0] = 1.0          # class "M" looks at feature map 0
    cw[3, 1] = 1.0          # class "X" looks at feature map 1
    cw[0, :] = -1.0         # "none" is pushed down everywhere: its CAM is empty
    iw = np.zeros((3, num_features), np.float32)
    iw[1, 1] = 2.0
    return HeadWeights(class_weight=cw, irradiance_weight=iw, class_names=("none", "C", "M", "X"),
                       line_names=("Fe XVIII 9.39 nm", "Fe XX 13.29 nm", "He II 30.38 nm"),
                       line_wavelengths_nm=(9.39, 13.29, 30.38))


def features_with_blobs(g: FrameGeometry, stride: int = 4) -> np.ndarray:
    """Feature maps whose blobs sit at known grid pixels (feature pixel centres)."""
    h = g.size // stride
    feats = np.zeros((4, h, h), np.float32)

    def at(px: float) -> float:   # grid px -> feature px (centre of s pixels)
        return (px - (stride - 1) / 2) / stride

    c, r = g.grid.center, g.radius_px
    feats[0] = blob(h, at(c + 0.5 * r), at(c + 0.3 * r), sigma=2.0)
    feats[1] = blob(h, at(c - 0.4 * r), at(c - 0.5 * r), sigma=2.0)
    return feats


def test_explain_from_features_end_to_end() -> None:
    g = geometry(b0=-5.0)
    feats = features_with_blobs(g)
    c, r = g.grid.center, g.radius_px
    summary = explain(feats, 2, heads(), g)
    (target,) = summary.targets
    assert target.target == Target("class", 2, "M")
    assert target.saliency.shape == (g.size, g.size)
    top = target.regions[0]
    assert (top.centroid_x_px, top.centroid_y_px) == pytest.approx((c + 0.5 * r, c + 0.3 * r),
                                                                   abs=0.5)
    expected = g.pixel_to_solar(np.array([c + 0.5 * r]), np.array([c + 0.3 * r]))
    assert top.hgs_lon_deg == pytest.approx(float(expected.hgs_lon_deg[0]), abs=0.5)
    assert top.hgs_lat_deg == pytest.approx(float(expected.hgs_lat_deg[0]), abs=0.5)
    assert top.hgs_lon_deg > 0 and top.noaa_location is not None and "W" in top.noaa_location
    # Batched (1, F, h, w) input is the same frame.
    again = explain(feats[None], [Target("class", 2, "M")], heads(), g)
    assert again.targets[0].regions == target.regions


def test_explain_outputs_selects_targets_and_serialises_to_the_schema() -> None:
    g = geometry()
    settings = SaliencySettings(extra_classes=("none",), irradiance_lines_nm=(13.29, 13.29))
    logits = np.array([0.1, 0.2, 0.3, 2.0], np.float32)          # predicted: X
    irradiance = np.array([6e-6, 1e-6, 5e-4])
    summary = explain_outputs(features_with_blobs(g), logits, heads(), g, settings,
                              irradiance_w_m2=irradiance)
    names = [(t.target.kind, t.target.name) for t in summary.targets]
    assert names == [("class", "X"), ("class", "none"), ("irradiance", "Fe XX 13.29 nm")]
    x, none, line = summary.targets
    assert x.target.score == pytest.approx(float(np.exp(2.0) / np.exp(logits).sum()), rel=1e-6)
    assert line.target.score == pytest.approx(1e-6)
    assert none.peak == 0.0 and none.regions == ()                # nothing supports "none"
    # X and the Fe XX residual read the same feature map: same place.
    assert line.regions[0].noaa_location == x.regions[0].noaa_location
    assert x.regions[0].hgs_lon_deg < 0 and x.regions[0].hgs_lat_deg < 0

    data = summary.to_dict()
    assert data["method"] == "cam" and len(data["targets"]) == 3
    region = data["targets"][0]["regions"][0]
    assert list(region) == REGION_KEYS
    assert sorted(REGION_KEYS) == sorted(f.name for f in fields(SaliencyRegion)
                                         if not f.name.startswith("centroid_"))
    json.dumps(data)   # plain JSON types only
    if not SCHEMA.exists():
        pytest.skip(f"message schema not present yet ({SCHEMA})")
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    item_schema = {"$defs": schema["$defs"],
                   **schema["$defs"]["data"]["properties"]["targets"]["items"]}
    for item in data["targets"]:
        jsonschema.validate(item, item_schema)


def test_unknown_targets_are_clear_errors() -> None:
    g = geometry(size=64)
    feats = np.zeros((4, 16, 16), np.float32)
    with pytest.raises(KeyError, match="unknown class 'Z'"):
        explain_outputs(feats, np.zeros(4), heads(), g, SaliencySettings(extra_classes=("Z",)))
    with pytest.raises(KeyError, match="no irradiance line at 17.11"):
        explain_outputs(feats, np.zeros(4), heads(), g,
                        SaliencySettings(irradiance_lines_nm=(17.11,)))
    with pytest.raises(ValueError, match="one frame"):
        explain(np.zeros((2, 4, 16, 16), np.float32), 1, heads(), g)
    with pytest.raises(ValueError, match="one .N, N. map per target"):
        explain_maps(np.zeros((2, 64, 64), np.float32), [Target("class", 0, "none")], g,
                     SaliencySettings())


def test_settings_cross_checks() -> None:
    assert SaliencySettings().check() == []
    nothing = SaliencySettings(explain_predicted_class=False)
    assert [name for name, _ in nothing.check()] == ["explain_predicted_class"]
    assert SaliencySettings(enabled=False, explain_predicted_class=False).check() == []
    dup = SaliencySettings(extra_classes=("M", "M"), irradiance_lines_nm=(-1.0,))
    assert {name for name, _ in dup.check()} == {"extra_classes", "irradiance_lines_nm"}
    meta = {f.name: f.metadata for f in fields(SaliencySettings)}
    assert meta["threshold_fraction"]["gt"] == 0.0 and meta["threshold_fraction"]["lt"] == 1.0
    assert all("doc" in m for m in meta.values())
