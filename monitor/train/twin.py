"""The daemon's view of a training sample: the same synthetic Sun written as FITS files.

The model is trained on ``SyntheticDataset`` samples rendered straight onto
the model grid; the daemon sees level-1 FITS files that go through
``monitor.ingest.read_observation`` and ``monitor.preprocess.preprocess``. To
check that both paths give the model the same input, this module rebuilds the
*scene* of dataset sample ``(seed, index)`` -- the same random draws in the
same order (day of year, active regions with their loops, the flare and the
moment it is caught) -- and renders it a second time as an AIA image of
``size`` pixels with its own pointing offset and roll, exposure control,
noise, int16 rounding and saturation, writes the seven files with the synthetic
feed's FITS writer (degraded by the table's factor at their date, as real
level-1 files are) and reads them back the daemon's way (corrected by the same
table, ``preprocess.degradation_table``'s default).

What necessarily differs between the two renderings: the random network and
streamer textures and the noise realisation (drawn at a different
resolution), and what only the file path has -- ADC saturation (16383 DN) and
integer rounding of the stored DN. ``tests/train/test_train_twin.py`` measures
the agreement, ``docs/training.md`` reports it.

:func:`dataset_scene` is ``SyntheticDataset.scene``: the very draws of
``SyntheticDataset.sample``; a test checks that the twin's truth equals the
dataset's labels exactly, so the two renderings cannot drift apart silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from monitor.grid import ModelGrid
from monitor.preprocess.calibrate import BUILTIN, load_degradation_table
from monitor.synth import SyntheticDataset
from monitor.synth.dataset import SceneDraw
from monitor.synth.disk import quiet_sun_volume_dem
from monitor.synth.fitsio import write_channel
from monitor.synth.geometry import ImageGeometry, observer_at
from monitor.synth.goes import EVENT_CLASSES, event_class_index, goes_class
from monitor.synth.noise import aec_exposure, expose
from monitor.synth.render import Renderer, to_int16
from monitor.synth.responses import channel_spec
from monitor.synth.sun import ChannelImage, Observation, compose_scene, scene_truth
from monitor.synth.truth import Truth

__all__ = ["FileFrame", "SceneDraw", "dataset_scene", "read_frame", "write_twin_files"]

#: Day 0 of ``observer_fast``'s table (its B0 and distance are those of 2014).
_TABLE_EPOCH = datetime(2014, 1, 1, tzinfo=UTC)


def dataset_scene(dataset: SyntheticDataset, index: int) -> SceneDraw:
    """The random draws of ``dataset.sample(index)`` up to (not including) rendering."""
    return dataset.scene(index)


@dataclass(frozen=True)
class FileFrame:
    """One observation written as files, with its truth.

    Attributes
    ----------
    paths : dict of int to pathlib.Path
        One level-1 FITS file per wavelength.
    truth : Truth
        Ground truth computed from the files' own scene (their observer).
    t_obs : datetime
        Observation time written into the headers.
    """

    paths: dict[int, Path]
    truth: Truth
    t_obs: datetime


def write_twin_files(draw: SceneDraw, out_dir: Path, channels: tuple[int, ...], *,
                     size: int = 1024, offset_px: tuple[float, float] | None = None,
                     crota2_deg: float | None = None, degradation: str = BUILTIN
                     ) -> FileFrame:
    """Render ``draw`` as ``size`` px AIA level-1 files into ``out_dir``.

    The observation time is the dataset's day of the year in 2014 (the year of
    its observer table), so B0 and the distance match the dataset sample to
    the ephemeris' precision. Pointing offset and roll default to small random
    values like AIA's (a few full-resolution px, a few hundredths of a degree).
    """
    rng = np.random.default_rng([draw.seed, 7, draw.index, size])
    if offset_px is None:
        offset_px = tuple(float(v) for v in np.clip(rng.normal(0.0, 2.5, 2), -8.0, 8.0))
    if crota2_deg is None:
        crota2_deg = float(rng.uniform(0.01, 0.04))
    when = _TABLE_EPOCH + timedelta(days=draw.day_of_year)
    when = when.replace(microsecond=(when.microsecond // 1000) * 1000)
    observer = observer_at(when)
    geometry = ImageGeometry.aia(size, offset_px, crota2_deg)
    renderer = Renderer(geometry, observer, channels, rng, world=draw.world)
    scene = compose_scene(draw.regions, draw.flares, draw.t_s, observer, geometry)
    images = {}
    for k, wavelength in enumerate(channels):
        spec = channel_spec(wavelength)
        rate = renderer.channel(k, scene.components)
        exposure = aec_exposure(spec, float(rate.max()))
        dn = expose(rng, rate, spec, exposure, geometry.full_res_pixels_per_pixel)
        data, saturated = to_int16(dn)
        images[wavelength] = ChannelImage(
            wavelength, data, when + timedelta(seconds=spec.t_obs_offset_s), exposure, 0, 0,
            saturated, False, 70_000_000 + (draw.seed % 1000) * 100_000 + draw.index * 8 + k)
    flux, irradiance, flares, regions = scene_truth(scene, quiet_sun_volume_dem(draw.world),
                                                    draw.world)
    idx = event_class_index(flux)
    truth = Truth(index=draw.index, t_rec=when, scenario=f"dataset-twin:{draw.seed}",
                  seed=draw.seed, world=draw.world.name, goes_flux=flux, goes_class=goes_class(flux),
                  event_class=EVENT_CLASSES[idx], event_class_index=idx,
                  irradiance=tuple(float(v) for v in irradiance), flares=flares, regions=regions,
                  exposure_s={w: im.exposure_s for w, im in images.items()})
    observation = Observation(draw.index, when, observer, geometry, images, truth)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {w: write_channel(out_dir, observation, w, cadence_s=12.0, degradation=degradation)
             for w in channels}
    return FileFrame(paths=paths, truth=truth, t_obs=when)


def read_frame(paths: dict[int, Path], channels: tuple[int, ...], size: int,
               degradation: str = BUILTIN) -> tuple[np.ndarray, object]:
    """Files -> ``(C, N, N)`` DN/s on the model grid, the daemon's way; and the frame geometry.

    Returns
    -------
    image : numpy.ndarray
        ``read_observation`` then ``preprocess`` (corrected with the ``degradation``
        table, as the daemon does) per channel, stacked in ``channels`` order.
    geometry : monitor.saliency.FrameGeometry
        From the first channel's header values (for saliency coordinates).

    Raises
    ------
    RuntimeError
        When ingest rejects a file (with its reason).
    """
    from monitor.ingest import read_observation
    from monitor.preprocess import preprocess
    from monitor.saliency import FrameGeometry

    grid = ModelGrid(size)
    table = load_degradation_table(degradation)
    planes = []
    frame_geometry = None
    for wavelength in channels:
        result = read_observation(paths[wavelength])
        if not result.ok:
            assert result.rejection is not None
            raise RuntimeError(f"ingest rejected {paths[wavelength]}: "
                               f"{result.rejection.reason}: {result.rejection.message}")
        assert result.observation is not None and result.image is not None
        planes.append(preprocess(result.observation, result.image, grid, degradation=table))
        if frame_geometry is None:
            g = result.observation.geometry
            frame_geometry = FrameGeometry(
                t_obs=result.observation.t_obs, rsun_obs_arcsec=g.rsun_obs,
                dsun_obs_m=g.dsun_obs or 1.496e11, hgln_obs_deg=g.hgln_obs or 0.0,
                hglt_obs_deg=g.hglt_obs or 0.0, size=size)
    return np.stack(planes).astype(np.float32), frame_geometry
