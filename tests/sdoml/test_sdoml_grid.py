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


#: An SSW/aiapy response table in which 193 A has lost a fifth of its sensitivity by 2011.
RESPONSE_TABLE = """\
DATE T_START T_STOP VER_NUM WAVE_STR WAVELNTH EFF_AREA EFFA_P1 EFFA_P2 EFFA_P3
2017-01-01T00:00:00.000 2010-03-24T00:00:00.000 2010-12-01T00:00:00.000 8 193_THIN 193 2.0 0.0 0.0 0.0
2017-01-01T00:00:01.000 2010-12-01T00:00:00.000 2030-01-01T00:00:00.000 8 193_THIN 193 1.6 0.0 0.0 0.0
"""


def test_sdoml_frames_are_never_corrected_twice(mini: Miniature, tmp_path: Path) -> None:
    """An active degradation table changes what the daemon does to files, never SDOML frames.

    SDOML's writer divided each frame by its exposure and its day's degradation
    factor. The level-1 file of that frame holds counts = frame x exposure x
    factor; the daemon, with the table, divides the factor out and lands on the
    grid the trainer makes from the SDOML frame, which it must not divide again.
    """
    from monitor.preprocess import DegradationTable, load_degradation_table
    from monitor.train.command import load_config
    from monitor.train.sdoml import sdoml_builders

    (tmp_path / "response.txt").write_text(RESPONSE_TABLE)
    builtin = load_degradation_table("builtin")  # what the daemon applies by default
    assert builtin is not None
    frame, geometry, when = _frame(mini)
    grid = ModelGrid(64)
    factors = []
    for name, table in (("response", DegradationTable.from_file(tmp_path / "response.txt")),
                        ("builtin", builtin)):
        factor = table.factor(193, when)
        factors.append(factor)
        assert abs(factor - 1.0) > 0.01, name  # the table is active at this date
        exposure = 2.0
        counts = np.rint(frame * exposure * factor).astype(np.int16)
        result = read_observation(_write_level1(tmp_path / f"aia_193_{name}.fits", counts,
                                                geometry, exposure, when))
        assert result.observation is not None, result.rejection
        daemon = preprocess(result.observation, result.image, grid, degradation=table)
        sdoml_frame = counts.astype(np.float32) / np.float32(exposure * factor)
        assert np.allclose(daemon, to_model_grid(sdoml_frame, geometry, grid), rtol=1e-5,
                           atol=1e-4), name
    # The trainer's draw of a stored frame is that frame on the grid, undivided, whatever
    # the daemon's table says for its date.
    config_path = tmp_path / "train.yaml"
    config_path.write_text(
        f"out_dir: {tmp_path / 'run'}\ndata:\n  kind: sdoml\n  aia: {mini.aia}\n"
        f"  eve: {mini.eve}\n  goes: [{mini.goes}]\n  block_days: 0.041666666666666664\n"
        "  gap_hours: 0\n  pattern: [train, train, val, test]\n"
        "model:\n  size: 64\n  channels: [193]\n  widths: [8, 16, 32]\n  blocks: [1, 1, 1]\n"
        "  stage_strides: [1, 2, 2]\n")
    config, _ = load_config(config_path)
    draw = sdoml_builders(config)["test"].draw
    row = draw.rows[0]
    year, index = int(draw.table.years[row, 0]), int(draw.table.rows[row, 0])
    stored = open_store(str(mini.aia)).array(f"{year}/193A").frame(index)
    plain = to_model_grid(stored, sdoml_geometry(draw.table.geometry[row, 0], 512), grid)
    drawn = draw(0)[0][0]
    assert np.array_equal(drawn, plain)
    for factor in factors:
        assert not np.allclose(drawn, plain / np.float32(factor))
