"""The trainer's SDOML grid and the daemon's grid of the same frame agree to float precision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from monitor.grid import ModelGrid
from monitor.ingest import read_observation
from monitor.ingest.samples import SyntheticSpec, header_for
from monitor.preprocess import preprocess
from monitor.sdoml import open_store, read_channel_index, sdoml_geometry
from monitor.sdoml.aia import to_model_grid
from monitor.sdoml.testing import Miniature


def test_daemon_and_trainer_grid_the_same_frame_alike(mini: Miniature, tmp_path: Path) -> None:
    store = open_store(str(mini.aia))
    index = read_channel_index(store, 193, [2011])
    geometry = sdoml_geometry(index.geometry[2], index.size)
    frame = store.array("2011/193A").frame(int(index.rows[2]))
    # The frame as the daemon would receive it: integer DN over an exposure, with the
    # geometry the reader derived for it written into an ordinary level-1 header.
    exposure = 2.0
    counts = np.rint(frame * exposure).astype(np.int16)
    spec = SyntheticSpec(size=512, cdelt=geometry.cdelt1, rsun_obs=geometry.rsun_obs,
                         wavelength=193, exposure_s=exposure, t_obs="2011-01-01T00:24:06.84Z")
    header = header_for(spec)
    header["CRPIX1"], header["CRPIX2"] = geometry.crpix1, geometry.crpix2
    path = tmp_path / "aia_193.fits"
    fits.HDUList([fits.PrimaryHDU(counts, header=header)]).writeto(path)
    result = read_observation(path)
    assert result.observation is not None, result.rejection
    assert result.observation.geometry.crpix1 == geometry.crpix1
    for size in (64, 256):
        grid = ModelGrid(size)
        daemon = preprocess(result.observation, result.image, grid)
        trainer = to_model_grid(counts.astype(np.float32) / np.float32(exposure), geometry, grid)
        assert daemon.shape == trainer.shape == (size, size)
        assert np.allclose(daemon, trainer, rtol=1e-5, atol=1e-4)
        assert np.array_equal(daemon == 0, trainer == 0)  # the same pixels filled
