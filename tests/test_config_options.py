"""Every option of the config schema does something.

Table-driven over the schema: each field of every settings dataclass reachable from
:class:`monitor.config.Config` must be read by the package somewhere other than its own
declaration (an option nobody reads is accepted and does nothing). Behaviour of single
options is shown where the option lives (``tests/daemon/test_daemon_options.py`` for
``frames.on_missing``, the test below for ``preprocess.degradation_table``).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from monitor.config import Config

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {p: p.read_text(encoding="utf-8") for p in (ROOT / "monitor").rglob("*.py")}


def _fields(cls: type, prefix: str = "", seen: frozenset[type] = frozenset()) -> Iterator[
        tuple[str, str]]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        yield path, f.name
        nested = {t for t in typing.get_args(hints[f.name]) or (hints[f.name],)
                  if dataclasses.is_dataclass(t)}
        nested |= {u for t in typing.get_args(hints[f.name]) for u in typing.get_args(t)
                   if dataclasses.is_dataclass(u)}
        for sub in sorted(nested - seen, key=lambda t: t.__name__):
            yield from _fields(sub, f"{path}.", seen | {sub})


OPTIONS = sorted(set(_fields(Config)))


def test_the_schema_walk_sees_the_whole_config() -> None:
    paths = {p for p, _ in OPTIONS}
    assert len(paths) > 150
    assert {"frames.on_missing", "preprocess.degradation_table", "kafka.ssl_cafile",
            "goes.confirmation.after_s", "feeds.url_prefixes"} <= paths


@pytest.mark.parametrize(("path", "name"), OPTIONS, ids=[p for p, _ in OPTIONS])
def test_every_option_is_read_by_the_package(path: str, name: str) -> None:
    # an attribute read (settings.name) or a key looked up by name ("name")
    read = re.compile(rf"\.{name}\b|[\"']{name}[\"']")
    assert any(read.search(text) for text in SOURCES.values()), (
        f"{path} is accepted but nothing reads it: wire it or remove it")


# an aiapy/SSW response table: 171 at half the effective area of its reference
TABLE = """\
DATE T_START T_STOP VER_NUM WAVE_STR WAVELNTH EFF_AREA EFFA_P1 EFFA_P2 EFFA_P3
2017-01-01T00:00:00.000 2010-03-24T00:00:00.000 2012-01-01T00:00:00.000 8 171_THIN 171 2.0 0.0 0.0 0.0
2017-01-01T00:00:01.000 2012-01-01T00:00:00.000 2030-01-01T00:00:00.000 8 171_THIN 171 1.0 0.0 0.0 0.0
"""


def test_degradation_table_changes_the_grid(tmp_path: Path) -> None:
    from monitor.ingest import IngestSettings
    from monitor.ingest.samples import SyntheticSpec, write_synthetic_fits
    from monitor.pipeline.pool_work import ingest_file
    from monitor.preprocess import PreprocessSettings

    table = tmp_path / "aia_response_table.txt"
    table.write_text(TABLE)
    fits_path = tmp_path / "f.fits"
    write_synthetic_fits(fits_path, SyntheticSpec(size=256, t_obs="2013-01-01T00:00:00.00Z"))
    plain = ingest_file(str(fits_path), IngestSettings(),
                        PreprocessSettings(degradation_table="none"), 32)
    corrected = ingest_file(str(fits_path), IngestSettings(),
                            PreprocessSettings(degradation_table=str(table)), 32)
    assert plain.ok and corrected.ok, (plain.rejection, corrected.rejection)
    assert plain.grid_image is not None and corrected.grid_image is not None
    lit = plain.grid_image > 1
    # degraded to half its reference area: corrected counts are twice the plain ones
    np.testing.assert_allclose(corrected.grid_image[lit], 2.0 * plain.grid_image[lit],
                               rtol=1e-4)
