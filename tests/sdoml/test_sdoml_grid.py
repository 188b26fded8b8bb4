"""The trainer's SDOML grid and the daemon's grid of the same frame agree to float precision."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from astropy.io import fits

from monitor.grid import ModelGrid
from monitor.ingest import read_observation
from monitor.ingest.records import Geometry
from monitor.ingest.samples import SyntheticSpec, header_for
from monitor.preprocess import preprocess
from monitor.sdoml import open_store, read_channel_index, sdoml_geometry
from monitor.sdoml.aia import to_model_grid
from monitor.sdoml.testing import Miniature


def _write_level1(path: Path, counts: np.ndarray, geometry: Geometry, exposure: float,
                  when: datetime) -> Path:
    """An ordinary level-1 file of ``counts`` with the geometry the reader derived."""
    spec = SyntheticSpec(size=counts.shape[0], cdelt=geometry.cdelt1, rsun_obs=geometry.rsun_obs,
                         wavelength=193, exposure_s=exposure,
                         t_obs=when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4] + "Z")
    header = header_for(spec)
    header["CRPIX1"], header["CRPIX2"] = geometry.crpix1, geometry.crpix2
    fits.HDUList([fits.PrimaryHDU(counts, header=header)]).writeto(path)
    return path


def _frame(mini: Miniature) -> tuple[np.ndarray, Geometry, datetime]:
    store = open_store(str(mini.aia))
    index = read_channel_index(store, 193, [2011])
    when = datetime.fromtimestamp(float(index.times[2]), UTC)
    return (store.array("2011/193A").frame(int(index.rows[2])),
            sdoml_geometry(index.geometry[2], index.size), when)


def test_daemon_and_trainer_grid_the_same_frame_alike(mini: Miniature, tmp_path: Path) -> None:
    frame, geometry, when = _frame(mini)
    # The frame as the daemon would receive it: integer DN over an exposure.
    exposure = 2.0
    counts = np.rint(frame * exposure).astype(np.int16)
    result = read_observation(_write_level1(tmp_path / "aia_193.fits", counts, geometry,
                                            exposure, when))
    assert result.observation is not None, result.rejection
    assert result.observation.geometry.crpix1 == geometry.crpix1
    for size in (64, 256):
        grid = ModelGrid(size)
        daemon = preprocess(result.observation, result.image, grid)
        trainer = to_model_grid(counts.astype(np.float32) / np.float32(exposure), geometry, grid)
        assert daemon.shape == trainer.shape == (size, size)
        assert np.allclose(daemon, trainer, rtol=1e-5, atol=1e-4)
        assert np.array_equal(daemon == 0, trainer == 0)  # the same pixels filled
