"""Flare refinement: the hot channels locate a known kernel inside the CAM region."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from monitor.saliency import FrameGeometry, SaliencySettings, Target, explain_maps
from monitor.saliency.refine import refine_flare
from monitor.saliency.regions import measure_regions

T_OBS = datetime(2024, 3, 20, 6, 0, tzinfo=UTC)


def geometry(size: int = 256) -> FrameGeometry:
    return FrameGeometry(t_obs=T_OBS, rsun_obs_arcsec=963.0, dsun_obs_m=1.4906e11, size=size)


def blob(size: int, x: float, y: float, sigma: float, amp: float = 1.0) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    return amp * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))


# A CAM at feature resolution: broad, and off the flare by most of a feature cell.
CAM_XY, FLARE_XY, SIGMA = (140.0, 120.0), (151.3, 112.6), 3.0


def scene(size: int = 256) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    cam = blob(size, *CAM_XY, sigma=20.0).astype(np.float32)
    hot = {131: 50.0 + blob(size, *FLARE_XY, SIGMA, 4000.0),
           94: 8.0 + blob(size, *FLARE_XY, SIGMA, 300.0)}
    return cam, hot


def test_refinement_finds_the_kernel_and_its_half_maximum_area() -> None:
    g = geometry()
    cam, hot = scene()
    (region,) = measure_regions(cam, g)
    assert math.hypot(region.centroid_x_px - FLARE_XY[0],
                      region.centroid_y_px - FLARE_XY[1]) > 10  # the CAM alone is far off
    flare = refine_flare(cam, region, hot, g)
    assert flare is not None and flare.channels == (94, 131)
    assert (flare.centroid_x_px, flare.centroid_y_px) == pytest.approx(FLARE_XY, abs=0.1)
    # Half maximum of the kernel after the 1 px smoothing: a disc of radius
    # a = sigma_eff sqrt(2 ln 2); at this mu its deprojected area is its
    # projected one over mu (small disc).
    sigma_eff = math.hypot(SIGMA, 1.0)
    a = sigma_eff * math.sqrt(2.0 * math.log(2.0))
    mu = float(g.mu(np.array([FLARE_XY[0]]), np.array([FLARE_XY[1]]))[0])
    expected = 1e6 * math.pi * a * a / mu / (2.0 * math.pi * g.radius_px ** 2)
    assert flare.area_msh == pytest.approx(expected, rel=0.12)
    assert flare.pixels == pytest.approx(math.pi * a * a, rel=0.12)


def test_brighter_spot_outside_the_cam_region_is_not_taken() -> None:
    g = geometry()
    cam, hot = scene()
    hot[131] = hot[131] + blob(g.size, 40.0, 200.0, SIGMA, 40000.0)  # outside the region
    (region,) = measure_regions(cam, g)
    flare = refine_flare(cam, region, hot, g)
    assert flare is not None
    assert (flare.centroid_x_px, flare.centroid_y_px) == pytest.approx(FLARE_XY, abs=0.2)


def test_flat_or_missing_hot_channels_give_no_flare() -> None:
    g = geometry()
    cam, hot = scene()
    (region,) = measure_regions(cam, g)
    assert refine_flare(cam, region, {}, g) is None
    flat = {131: np.full((g.size, g.size), 7.0)}
    assert refine_flare(cam, region, flat, g) is None
    only_131 = refine_flare(cam, region, {131: hot[131]}, g)
    assert only_131 is not None and only_131.channels == (131,)


def test_explain_maps_locates_flares_of_flare_classes_in_the_configured_channels() -> None:
    g = geometry()
    cam, hot = scene()
    targets = [Target("class", 2, "M", 0.8), Target("class", 0, "none", 0.1),
               Target("irradiance", 0, "Fe XVIII 9.39 nm", 1e-6)]
    maps = np.stack([cam, cam, cam])
    summary = explain_maps(maps, targets, g, SaliencySettings(), hot=hot)
    flare_class, below_c, line = summary.targets
    located = flare_class.regions[0].flare
    assert located is not None and located.on_disk and located.noaa_location
    x, y = g.world_to_pixel(located.hpc_x_arcsec, located.hpc_y_arcsec)
    assert (float(x), float(y)) == pytest.approx(FLARE_XY, abs=0.1)
    assert below_c.regions[0].flare is None and line.regions[0].flare is None
    assert summary.flare() == ("M", located)
    data = summary.to_dict()["targets"][0]["regions"][0]["flare"]
    assert data["channels"] == [94, 131] and data["area_msh"] == round(located.area_msh, 2)
    # The option changes what is used: only 94 A, or nothing at all.
    only_94 = explain_maps(maps, targets, g, SaliencySettings(refine_channels=(94,)), hot=hot)
    assert only_94.targets[0].regions[0].flare.channels == (94,)
    off = explain_maps(maps, targets, g, SaliencySettings(refine_channels=()), hot=hot)
    assert off.targets[0].regions[0].flare is None and off.flare() is None
    # The CAM regions themselves are the same with and without refinement.
    assert off.targets[0].regions[0].area_msh == flare_class.regions[0].area_msh


def test_refine_channels_from_yaml() -> None:
    from monitor.config import ConfigError, parse_config

    assert parse_config("saliency: {refine_channels: []}").saliency.refine_channels == ()
    assert parse_config("").saliency.refine_channels == (94, 131)
    with pytest.raises(ConfigError) as info:
        parse_config("saliency: {refine_channels: [131, 131]}")
    assert [i.path for i in info.value.issues] == ["saliency.refine_channels"]
    for bad in ("[hot]", "[1600]"):   # not a number; not an EUV channel
        with pytest.raises(ConfigError) as info:
            parse_config(f"saliency: {{refine_channels: {bad}}}")
        assert info.value.issues[0].path.startswith("saliency.refine_channels"), bad
