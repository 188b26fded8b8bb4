"""Synthetic level-1 files are degraded like real ones, and the daemon's correction undoes it."""

from __future__ import annotations

from datetime import UTC, timedelta
from importlib import resources
from pathlib import Path

import numpy as np
from astropy.io import fits

from monitor.ingest import IngestSettings
from monitor.pipeline.pool_work import ingest_file
from monitor.preprocess import DegradationTable, PreprocessSettings
from monitor.synth import CHANNELS
from monitor.synth.fitsio import write_channel
from monitor.synth.scenario import load_scenario
from monitor.synth.sun import SyntheticSun


def test_every_shipped_scenario_lies_inside_the_shipped_table() -> None:
    """No synthetic feed is corrected by extrapolation (which would make the round trip inexact
    only by the extrapolation's own error, but also flag calibration_stale)."""
    table = DegradationTable.builtin()
    names = sorted(p.name.removesuffix(".yaml")
                   for p in resources.files("monitor.synth.scenarios").iterdir()
                   if p.name.endswith(".yaml"))
    assert len(names) >= 10
    for name in names:
        sc = load_scenario(name)
        start = sc.start if sc.start.tzinfo else sc.start.replace(tzinfo=UTC)
        end = start + timedelta(seconds=sc.duration_s)
        assert table.first_day <= start and end <= table.last_day, name


def test_round_trip_through_the_daemon_stage_is_exact(tmp_path: Path) -> None:
    sun = SyntheticSun(load_scenario("x_flare"), size=512, seed=5)
    observation = sun.observe(1)
    table = DegradationTable.builtin()
    settings, size = IngestSettings(), 128
    for wavelength in CHANNELS:
        image = observation.images[wavelength]
        for sub in ("degraded", "fresh"):
            (tmp_path / sub).mkdir(exist_ok=True)
        degraded = write_channel(tmp_path / "degraded", observation, wavelength, 12.0)
        fresh = write_channel(tmp_path / "fresh", observation, wavelength, 12.0,
                              degradation="none")
        factor = table.factor(wavelength, image.t_obs)
        with fits.open(degraded, do_not_scale_image_data=True) as hdul:
            np.testing.assert_array_equal(hdul[1].data, image.data)  # the rendered integers
            assert hdul[1].header["BSCALE"] == factor
        # a degraded instrument's DN: what any FITS reader gets from the file
        with fits.open(degraded) as hdul:
            physical = hdul[1].data
            assert hdul[1].header["DATAMEAN"] == round(
                float(image.data[image.data != -32768].mean(dtype=np.float64)) * factor, 4)
        valid = image.data != -32768
        np.testing.assert_allclose(physical[valid], image.data[valid] * factor, rtol=1e-6)
        # the daemon's stage with its defaults corrects it; "none" reads the fresh file as is
        corrected = ingest_file(str(degraded), settings, PreprocessSettings(), size)
        plain = ingest_file(str(fresh), settings, PreprocessSettings(degradation_table="none"),
                            size)
        assert corrected.ok and plain.ok, (corrected.rejection, plain.rejection)
        assert corrected.degradation is not None and plain.degradation is None
        assert corrected.degradation.factor == factor and not corrected.degradation.extrapolated
        np.testing.assert_allclose(corrected.grid_image, plain.grid_image, rtol=2e-6, atol=1e-5)
        # and without the correction the degraded file would be factor times fainter
        uncorrected = ingest_file(str(degraded), settings,
                                  PreprocessSettings(degradation_table="none"), size)
        ratio = uncorrected.grid_image.sum() / plain.grid_image.sum()
        assert abs(ratio / factor - 1) < 1e-5, (wavelength, ratio, factor)
