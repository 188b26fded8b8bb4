"""Degradation tables: SSW response tables, daily CSVs, the shipped copy, extrapolation."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import parse_config
from monitor.preflight import file_problems
from monitor.preprocess import (
    CalibrationUnavailable,
    DegradationTable,
    PreprocessSettings,
    load_degradation_table,
)
from monitor.preprocess.calibrate import TREND_DAYS, write_daily_table
from monitor.preprocess.tables import read_daily

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
V9 = SHARED / "data" / "real" / "aia_degradation_v9"

# The layout of SSW's aia_V10_20201023_180000_response_table.txt (all 14 columns, right-aligned,
# one row per epoch): its 171_THIN rows, five of its 304_THIN rows (2011-05 to 2018-06 left out),
# a 1600 row, and older version-9 rows that must be ignored because version 10 is present.
RESPONSE = """\
                      DATE                   T_START                    T_STOP    VER_NUM   WAVE_STR   WAVELNTH     EPERDN   DNPERPHT   EFF_AREA   EFF_WVLN    EFFA_P1    EFFA_P2    EFFA_P3       RMSE
   2019-01-10T00:00:00.000   2010-03-24T00:00:00.000   2030-05-01T00:00:00.000          9   171_THIN        171      17.70    1.12159    2.90000     171.10  -0.000100   0.000000   0.000000   0.050000
   2020-10-26T00:14:21.733   2010-03-24T00:00:00.000   2011-01-27T15:00:00.000         10   171_THIN        171      17.70    1.12159    2.78926     171.10  -0.000020   0.000000   0.000000   0.050000
   2020-10-26T00:14:21.733   2011-01-27T15:00:00.000   2012-04-10T12:00:00.000         10   171_THIN        171      17.70    1.12159    2.77160     171.10  -0.000054   0.000000   0.000000   0.050000
   2020-10-26T00:14:21.733   2012-04-10T12:00:00.000   2013-02-15T12:00:00.000         10   171_THIN        171      17.70    1.12159    2.70570     171.10  -0.000282   0.000000   0.000000   0.050000
   2020-10-26T00:14:21.733   2013-02-15T12:00:00.000   2014-05-25T12:00:00.000         10   171_THIN        171      17.70    1.12159    2.46826     171.10  -0.000030   0.000000   0.000000   0.050000
   2020-10-26T00:14:21.733   2014-05-25T12:00:00.000   2015-05-01T12:00:00.000         10   171_THIN        171      17.70    1.12159    2.43424     171.10  -0.000446   0.000000   0.000000   0.050000
   2020-10-26T00:14:21.733   2015-05-01T12:00:00.000   2018-06-18T18:00:00.000         10   171_THIN        171      17.70    1.12159    2.06386     171.10   0.000000   0.000000   0.000000   0.050000
   2020-10-26T00:14:21.733   2018-06-18T18:00:00.000   2020-06-01T12:00:00.000         10   171_THIN        171      17.70    1.12159    2.06386     171.10   0.000000   0.000000   0.000000   0.050000
   2020-10-26T00:14:21.733   2020-06-01T12:00:00.000   2030-05-01T00:00:00.000         10   171_THIN        171      17.70    1.12159    2.06386     171.10   0.000000   0.000000   0.000000   0.050000
   2019-01-10T00:00:00.000   2010-03-24T00:00:00.000   2030-05-01T00:00:00.000          9   304_THIN        304      18.30    0.61097    0.20000     303.80   0.000000   0.000000   0.000000   0.050000
   2020-10-26T00:14:21.733   2010-03-24T00:00:00.000   2011-01-27T15:00:00.000         10   304_THIN        304      18.30    0.61097    0.10250     303.80  -0.001566   0.000000   0.000000   0.050000
   2020-10-26T00:14:21.733   2011-01-27T15:00:00.000   2011-04-13T18:00:00.000         10   304_THIN        304      18.30    0.61097    0.06487     303.80  -0.003126   0.000000   0.000000   0.050000
   2020-10-26T00:14:21.733   2011-04-13T18:00:00.000   2011-05-20T18:00:00.000         10   304_THIN        304      18.30    0.61097    0.05215     303.80  -0.002991   0.000000   0.000000   0.050000
   2020-10-26T00:14:21.733   2018-06-18T18:00:00.000   2020-06-01T12:00:00.000         10   304_THIN        304      18.30    0.61097    0.00569     303.80   0.000000   0.000000   0.000000   0.050000
   2020-10-26T00:14:21.733   2020-06-01T12:00:00.000   2030-05-01T00:00:00.000         10   304_THIN        304      18.30    0.61097    0.00569     303.80   0.000000   0.000000   0.000000   0.050000
   2020-10-26T00:14:21.733   2010-03-24T00:00:00.000   2030-05-01T00:00:00.000         10       1600       1600       0.00    0.00000    0.03000    1600.00   0.000000   0.000000   0.000000   0.050000
"""


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _days(a: datetime, b: datetime) -> float:
    return (a - b).total_seconds() / 86400.0


def test_response_table_follows_aiapy_formula_for_the_newest_version(tmp_path: Path) -> None:
    path = tmp_path / "aia_V10_20201023_180000_response_table.txt"
    path.write_text(RESPONSE)
    table = DegradationTable.from_file(path)
    assert table.channels() == (171, 304, 1600)
    t = _utc(2013, 6, 24, 17, 31, 30)
    expected = 2.46826 / 2.78926 * (1 - 0.000030 * _days(t, _utc(2013, 2, 15, 12)))
    assert table.factor(171, t) == pytest.approx(expected, rel=1e-12)  # not the v9 2.9 row
    t = _utc(2011, 3, 1)
    expected = 0.06487 / 0.10250 * (1 - 0.003126 * _days(t, _utc(2011, 1, 27, 15)))
    assert table.factor(304, t) == pytest.approx(expected, rel=1e-12)
    assert table.factor(1600, t) == 1.0
    # the table was computed on 2020-10-26: later factors are extrapolated (flat last epoch)
    assert table.last_day == _utc(2020, 10, 26, 0, 14, 21, 733000)
    late = table.applied(171, _utc(2021, 6, 1))
    assert late.extrapolated and late.extrapolated_days == pytest.approx(217.99, abs=0.01)
    assert late.factor == pytest.approx(2.06386 / 2.78926, rel=1e-12)
    with pytest.raises(CalibrationUnavailable, match="193"):
        table.factor(193, t)
    with pytest.raises(CalibrationUnavailable, match="epoch"):
        table.factor(171, _utc(2009, 1, 1))


def test_response_table_agrees_with_aiapy(tmp_path: Path) -> None:
    """aiapy's own ``degradation`` on the version-10 rows of the sample."""
    aiapy_calibrate = pytest.importorskip("aiapy.calibrate")
    aiapy_util = pytest.importorskip("aiapy.calibrate.util")
    import astropy.units as u
    from astropy.time import Time

    path = tmp_path / "v10.txt"
    lines = RESPONSE.splitlines()
    path.write_text("\n".join([lines[0], *[x for x in lines[1:] if "    9 " not in x]]) + "\n")
    ours = DegradationTable.from_file(path)
    theirs = aiapy_util.get_correction_table(path)
    for wavelength in (171, 304):
        for stamp in ("2010-06-01T00:00:00", "2011-05-01T17:31:30", "2019-03-01T12:00:00"):
            expected = aiapy_calibrate.degradation(wavelength * u.angstrom,
                                                   Time(stamp, scale="utc"),
                                                   correction_table=theirs)
            when = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
            assert ours.factor(wavelength, when) == pytest.approx(
                float(expected.value.ravel()[0]), rel=1e-9)


def _write_daily(folder: Path, channel: int, start: datetime, values: list[float]) -> None:
    folder.mkdir(exist_ok=True)
    rows = [f'"{(start + timedelta(days=k)).strftime("%Y-%m-%dT%H:%M:%S.000")}",{v:.9f}'
            for k, v in enumerate(values)]
    (folder / f"degrad_{channel}.csv").write_text("\n".join(rows) + "\n")


def test_daily_folder_interpolates_and_extrapolates_the_last_90_days(tmp_path: Path) -> None:
    start = _utc(2020, 1, 1, 12)
    decay = 0.002  # per day, in log(factor)
    # 171: a steady exponential decay; 304: decays, then flat over its last 90 days
    _write_daily(tmp_path, 171, start, [0.9 * math.exp(-decay * k) for k in range(300)])
    _write_daily(tmp_path, 304, start, [0.5 * math.exp(-decay * min(k, 209)) for k in range(300)])
    table = DegradationTable.from_file(tmp_path)
    end = start + timedelta(days=299)
    assert table.last_day == end and table.first_day == start
    midnight = _utc(2020, 1, 11)  # halfway between the noon rows of day 9 and day 10
    assert table.factor(171, midnight) == pytest.approx(
        0.9 * (math.exp(-decay * 9) + math.exp(-decay * 10)) / 2, rel=1e-9)
    # the first morning belongs to the first row; earlier is refused
    assert table.factor(171, _utc(2020, 1, 1, 1)) == pytest.approx(0.9, rel=1e-9)
    with pytest.raises(CalibrationUnavailable):
        table.factor(171, _utc(2019, 12, 30))
    inside = table.applied(171, end)
    assert not inside.extrapolated
    later = table.applied(171, end + timedelta(days=100))
    assert later.extrapolated and later.extrapolated_days == pytest.approx(100.0)
    assert later.factor == pytest.approx(0.9 * math.exp(-decay * 399), rel=1e-6)
    assert table.factor(304, end + timedelta(days=100)) == pytest.approx(
        0.5 * math.exp(-decay * 209), rel=1e-9)  # the trend of the last 90 days only: flat
    assert TREND_DAYS == 90
    assert table.age_days(end + timedelta(days=3)) == pytest.approx(3.0)
    assert table.is_stale(end + timedelta(hours=1)) and not table.is_stale(end)


def test_bad_tables_are_refused_with_file_and_line(tmp_path: Path) -> None:
    cases = {
        "degrad_171.csv": ('"2020-01-01T12:00:00.000",0.9\n"2020-01-01T12:00:00.000",0.8\n',
                           ":2: times must increase"),
        "degrad_193.csv": ('"2020-01-01T12:00:00.000",0.9\n"2020-01-02T12:00:00.000",-1\n',
                           ":2: factor"),
        "degrad_211.csv": ('"2020-01-01T12:00:00.000",0.9\n"yesterday",0.8\n', ":2:"),
    }
    for name, (text, match) in cases.items():
        folder = tmp_path / name.removesuffix(".csv")
        folder.mkdir()
        (folder / name).write_text(text)
        with pytest.raises(ValueError, match=match):
            DegradationTable.from_file(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no degrad_"):
        DegradationTable.from_file(empty)
    wide = tmp_path / "wide.csv"
    wide.write_text("date,171\n2020-01-01T12:00:00,0.9\n")
    with pytest.raises(ValueError, match="header must be time"):
        DegradationTable.from_file(wide)


def test_builtin_table_is_the_v9_folder_with_provenance() -> None:
    """The shipped copy holds every row of the v9 daily factors, value for value."""
    table = DegradationTable.builtin()
    assert table.channels() == (94, 131, 171, 193, 211, 304, 335, 1600, 1700)
    assert table.first_day == _utc(2010, 5, 1, 12)
    assert table.last_day.date().isoformat() == "2024-07-11"
    data = Path(__file__).resolve().parents[2] / "monitor" / "preprocess" / "data"
    meta = json.loads((data / "aia_degradation_v9.json").read_text())
    assert meta["sha256"] == hashlib.sha256(
        (data / "aia_degradation_v9.csv.gz").read_bytes()).hexdigest()
    assert meta["rows"] == 5186 and "sdoml-lite" in meta["source"]
    if not V9.is_dir():
        pytest.skip(f"{V9} is absent: the shipped copy is not compared with the source")
    source = read_daily(V9)
    for channel, curve in source.items():
        times, values = curve.samples()  # type: ignore[attr-defined]
        for t, v in zip(times[::97], values[::97]):
            when = datetime.fromtimestamp(float(t), UTC)
            assert table.factor(channel, when) == v, (channel, when)
    # the figures the issue quotes for 2024
    end = _utc(2024, 7, 11)
    assert table.factor(304, end) == pytest.approx(0.059, abs=0.001)
    assert table.factor(335, end) == pytest.approx(0.16, abs=0.005)


def test_wide_csv_round_trip(tmp_path: Path) -> None:
    start = _utc(2021, 3, 1, 12)
    folder = tmp_path / "v"
    _write_daily(folder, 94, start, [1.0 - 0.001 * k for k in range(40)])
    _write_daily(folder, 335, start, [0.3 - 0.002 * k for k in range(40)])
    out = tmp_path / "copy.csv.gz"
    write_daily_table(read_daily(folder), out, {"source": "test"})
    a, b = DegradationTable.from_file(folder), DegradationTable.from_file(out)
    for day in range(0, 40, 7):
        t = start + timedelta(days=day, hours=5)
        assert a.factor(94, t) == b.factor(94, t) and a.factor(335, t) == b.factor(335, t)
    assert json.loads((tmp_path / "copy.json").read_text())["rows"] == 40


def test_setting_names_builtin_none_or_a_table(tmp_path: Path) -> None:
    assert PreprocessSettings().degradation_table == "builtin"
    assert load_degradation_table("builtin") is load_degradation_table("builtin")  # read once
    assert load_degradation_table("none") is None
    path = tmp_path / "aia_V10_response_table.txt"
    path.write_text(RESPONSE)
    config = parse_config(f"preprocess:\n  degradation_table: {path}\n")
    assert config.preprocess.degradation_table == str(path)
    assert file_problems(config) == [] and file_problems(parse_config("")) == []
    missing = parse_config(f"preprocess:\n  degradation_table: {tmp_path / 'missing.txt'}\n")
    (issue,) = file_problems(missing)
    assert issue.path == "preprocess.degradation_table" and "does not exist" in issue.message
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "degrad_171.csv").write_text('"2020-01-01T12:00:00.000",0.9\n"later",0.8\n')
    (issue,) = file_problems(parse_config(f"preprocess:\n  degradation_table: {bad}\n"))
    assert "not a degradation table" in issue.message and "degrad_171.csv:2" in issue.message
