"""Options of ``ingest`` and ``preprocess``: each changes what the ingest worker does with a file.

Every probe runs :func:`monitor.pipeline.pool_work.ingest_file`, the function
the daemon's worker pool runs per file, on a synthetic level-1 file made to
sit between the two values, and returns the refusal reason (or None), the
observation's flags and a digest of the grid image.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from optionrows import Row, scratch

from monitor.ingest import IngestSettings
from monitor.ingest.samples import SyntheticSpec, header_for, write_synthetic_fits
from monitor.ingest.settings import PixelChecks, QualityPolicy
from monitor.pipeline.pool_work import ingest_file
from monitor.preprocess import PreprocessSettings

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
JP2 = SHARED / "data/real/aia_jp2/2021_06_01__00_01_21_347__SDO_AIA_AIA_171.jp2"
GRID = 64


# an aiapy/SSW response table: 171 at half the effective area of its reference in 2013
TABLE = """\
DATE T_START T_STOP VER_NUM WAVE_STR WAVELNTH EFF_AREA EFFA_P1 EFFA_P2 EFFA_P3
2017-01-01T00:00:00.000 2010-03-24T00:00:00.000 2012-01-01T00:00:00.000 8 171_THIN 171 2.0 0.0 0.0 0.0
2017-01-01T00:00:01.000 2012-01-01T00:00:00.000 2030-01-01T00:00:00.000 8 171_THIN 171 1.0 0.0 0.0 0.0
"""


@functools.cache
def table() -> str:
    path = scratch("options-table-") / "aia_response_table.txt"
    path.write_text(TABLE)
    return str(path)


def degradation(value: str) -> tuple[Any, ...]:
    return outcome("plain", prep=PreprocessSettings(
        degradation_table=table() if value == "table" else value))


@functools.cache
def sample(kind: str) -> str:
    """A file made for one probe (written once per test process)."""
    out = scratch("options-ingest-") / f"{kind}.fits"
    spec = SyntheticSpec(size=256, t_obs="2013-01-01T00:00:00.00Z")
    if kind == "plain":
        write_synthetic_fits(out, spec)
    elif kind == "blank":
        write_synthetic_fits(out, dataclasses.replace(spec, blank_fraction=0.2))
    elif kind == "quality":  # bit 12 (a default reject bit) and bit 25 (in neither list)
        write_synthetic_fits(out, dataclasses.replace(spec, quality=(1 << 12) | (1 << 25)))
    elif kind == "flag25":
        write_synthetic_fits(out, dataclasses.replace(spec, quality=1 << 25))
    elif kind == "bright":  # disk centre near 12,000 DN: saturated under a low saturation_dn
        write_synthetic_fits(out, dataclasses.replace(spec, counts_scale=6000.0))
    elif kind == "no_quality":
        header = header_for(spec)
        del header["QUALITY"]
        fits.PrimaryHDU(np.full((256, 256), 800, dtype=np.int16), header=header).writeto(out)
    elif kind == "offset":  # the disk mostly off the image: the grid is half covered
        write_synthetic_fits(out, dataclasses.replace(spec, center_offset_px=(201.3, 0.7)))
    else:
        raise ValueError(kind)
    return str(out)


def outcome(kind: str, ingest: IngestSettings | None = None,
            prep: PreprocessSettings | None = None) -> tuple[Any, ...]:
    done = ingest_file(sample(kind) if kind != "jp2" else str(JP2), ingest or IngestSettings(),
                       prep or PreprocessSettings(degradation_table="none"), GRID)
    reason = done.rejection.reason.value if done.rejection is not None else None
    flags = tuple(done.observation.flags) if done.observation is not None else ()
    grid = (hashlib.sha256(done.grid_image.tobytes()).hexdigest()
            if done.grid_image is not None else None)
    return reason, flags, grid


def ingest(kind: str, field: str, value: Any) -> tuple[Any, ...]:
    return outcome(kind, dataclasses.replace(IngestSettings(), **{field: value}))


def quality(kind: str, field: str, value: Any) -> tuple[Any, ...]:
    policy = dataclasses.replace(QualityPolicy(), **{field: value})
    return outcome(kind, IngestSettings(quality=policy))


def quality_strict(kind: str, field: str, value: Any) -> tuple[Any, ...]:
    policy = dataclasses.replace(QualityPolicy(unknown_bits="reject"), **{field: value})
    return outcome(kind, IngestSettings(quality=policy))


def pixels(kind: str, base: dict[str, Any], field: str, value: Any) -> tuple[Any, ...]:
    checks = dataclasses.replace(PixelChecks(), **{**base, field: value})
    return outcome(kind, IngestSettings(pixels=checks))


def prep(kind: str, field: str, value: Any) -> tuple[Any, ...]:
    return outcome(kind, prep=PreprocessSettings(degradation_table="none", **{field: value}))


def _p(fn: Any, *args: Any) -> Any:
    return functools.partial(fn, *args)


DARK = {"dark_threshold_dn_per_s": {}, "dark_default_dn_per_s": 0.0}
ROWS = [
    Row("ingest.max_file_bytes", 200_000_000, 10_000, _p(ingest, "plain", "max_file_bytes")),
    Row("ingest.max_image_side", 4096, 128, _p(ingest, "plain", "max_image_side")),
    Row("ingest.max_image_pixels", 4096 * 4096, 128 * 128,
        _p(ingest, "plain", "max_image_pixels")),
    Row("ingest.max_header_bytes", 345_600, 2880, _p(ingest, "plain", "max_header_bytes")),
    Row("ingest.max_hdus", 4, 1, _p(ingest, "plain", "max_hdus")),  # RICE image in HDU 1
    Row("ingest.required_keywords", IngestSettings().required_keywords, ("T_OBS",),
        _p(ingest, "no_quality", "required_keywords")),
    Row("ingest.accepted_wavelengths", (171,), (193,), _p(ingest, "plain", "accepted_wavelengths")),
    Row("ingest.accepted_levels", (1.0,), (1.5,), _p(ingest, "plain", "accepted_levels")),
    Row("ingest.max_exposure_s", 30.0, 1.0, _p(ingest, "plain", "max_exposure_s")),
    Row("ingest.rsun_obs_range_arcsec", (850.0, 1100.0), (970.0, 1100.0),
        _p(ingest, "plain", "rsun_obs_range_arcsec")),
    Row("ingest.accept_jp2", True, False, _p(ingest, "jp2", "accept_jp2")),
    Row("ingest.quality.reject_bits", (12,), (), _p(quality, "quality", "reject_bits")),
    Row("ingest.quality.flag_bits", (), (25,), _p(quality_strict, "flag25", "flag_bits")),
    Row("ingest.quality.unknown_bits", "flag", "reject", _p(quality, "flag25", "unknown_bits")),
    Row("ingest.pixels.max_missing_fraction", 0.05, 0.5,
        _p(pixels, "blank", {}, "max_missing_fraction")),
    Row("ingest.pixels.saturation_dn", 15000.0, 2000.0,
        _p(pixels, "bright", {}, "saturation_dn")),
    Row("ingest.pixels.max_saturated_fraction", 0.05, 1.0,
        _p(pixels, "bright", {"saturation_dn": 2000.0}, "max_saturated_fraction")),
    Row("ingest.pixels.dark_threshold_dn_per_s", {"171": 5.0}, {"171": 1e6},
        _p(pixels, "plain", {}, "dark_threshold_dn_per_s")),
    Row("ingest.pixels.dark_default_dn_per_s", 0.0, 1e6,
        _p(pixels, "plain", DARK, "dark_default_dn_per_s")),
    # the analytic disk is limb-brightened: a wide box has the higher mean
    Row("ingest.pixels.dark_box_half_width_rsun", 0.05, 1.0,
        _p(pixels, "plain", {"dark_threshold_dn_per_s": {"171": 250.0}},
           "dark_box_half_width_rsun")),
    Row("preprocess.degradation_table", "none", "table", degradation),
    Row("preprocess.fill_value", 0.0, -1.0, _p(prep, "offset", "fill_value")),
    Row("preprocess.min_pixel_coverage", 0.01, 0.99, _p(prep, "offset", "min_pixel_coverage")),
    Row("preprocess.min_grid_coverage", 0.05, 0.9, _p(prep, "offset", "min_grid_coverage")),
]

EXEMPT = {
    "preprocess.threads": (
        "splits the resampling into bands run in parallel: only the speed changes, and the "
        "result must not (tests/preprocess/test_preprocess_resample.py::"
        "test_preprocess_resample_constant_and_threads_agree asserts that for several values); "
        "the speed is measured in benchmarks/, never asserted in tests"),
}

ELSEWHERE = {
    "ingest.allow_date_obs":
        "tests/ingest/test_ingest_files.py::test_ingest_date_obs_fallback_flagged",
}


@pytest.mark.parametrize("row", ROWS, ids=[r.path for r in ROWS])
def test_option_changes_behaviour(row: Row) -> None:
    if row.path == "ingest.accept_jp2" and not JP2.exists():
        pytest.skip(f"needs the shared real JPEG 2000 file {JP2}")
    row.check()
