"""Event detection on real GOES-15 days: sunpy's test days, NCEI science days, NOAA's lists.

References: sunpy's ``go1520110607.fits`` (M2.5, peak 2.56e-5 at 06:41 UT;
NOAA's event list: begin 06:16, max 06:41, end 06:59) and
``go1520120601.fits.gz`` (largest C3.4 at 22:42); the shared folder's five
science-quality days, NCEI's flare summary of 2010-10-16 and the catalog of
SWPC events (goes_catalog_with_noaa_ar2.csv).
"""

from __future__ import annotations

import csv
import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from goes_support import at, sunpy_test_file

from monitor.goes.classes import SCIENCE_TO_OPERATIONAL, class_flux, goes_class
from monitor.goes.detect import GoesEvent, detect_flares
from monitor.goes.files import GoesDay, read_flare_summary
from monitor.goes.samples import GoesSample
from monitor.goes.settings import DetectionSettings

MINUTE = 60.0


def events_of(day: GoesDay) -> list[GoesEvent]:
    return detect_flares(day.samples, feed="test", flux_scale=day.flux_scale)


def assert_noaa_definition(event: GoesEvent, samples: list[GoesSample]) -> None:
    """Begin, peak and end follow NOAA's definition on the samples themselves."""
    s = DetectionSettings()
    by_time = {x.time: x.flux for x in samples}
    run = [by_time[event.begin_time + i * MINUTE] for i in range(s.rise_minutes)]
    assert all(b > a for a, b in itertools.pairwise(run)), run
    assert min(run) >= s.min_flux_w_m2 and run[-1] >= s.rise_ratio * run[0]
    before = [by_time.get(event.begin_time + (i - 1) * MINUTE) for i in range(s.rise_minutes)]
    assert not (None not in before and all(b > a for a, b in itertools.pairwise(before))
                and before[-1] >= s.rise_ratio * before[0]), "an earlier minute qualifies"
    inside = [x for x in samples if event.begin_time <= x.time <= event.end_time]
    assert max(x.flux for x in inside) == event.peak_flux
    assert by_time[event.peak_time] == event.peak_flux
    half = event.background_flux + 0.5 * (event.peak_flux - event.background_flux)
    assert event.end_reason == "half_decay"
    assert by_time[event.end_time] <= half
    assert all(x.flux > half for x in inside if event.peak_time <= x.time < event.end_time)


def test_m25_flare_of_2011_06_07(day_2011_06_07: GoesDay) -> None:
    day = day_2011_06_07
    assert day.kind == "operational" and day.flux_scale == 1.0 and day.satellite == 15
    assert len(day.samples) >= 1430  # 2-s data averaged into minutes
    big = [e for e in events_of(day) if e.peak_flux >= 1e-5]
    assert len(big) == 1
    flare = big[0]
    assert abs(flare.peak_time - at("2011-06-07", "06:41")) <= 2 * MINUTE
    assert 2.4e-5 <= flare.peak_flux <= 2.6e-5
    assert flare.goes_class == "M2.5" and flare.noaa_scale == "R1"
    assert_noaa_definition(flare, day.samples)
    # NOAA's event list: begin 06:16, max 06:41, end 06:59
    assert abs(flare.begin_time - at("2011-06-07", "06:16")) <= 2 * MINUTE
    assert abs(flare.end_time - at("2011-06-07", "06:59")) <= 2 * MINUTE
    assert set(flare.crossings) >= {"C", "M", "R1"} and "R2" not in flare.crossings


def test_2012_06_01_has_c_class_events_only(day_2012_06_01: GoesDay) -> None:
    events = events_of(day_2012_06_01)
    classes = [e.goes_class for e in events]
    assert not [c for c in classes if c[0] in "MX"], classes
    c_events = [e for e in events if e.goes_class.startswith("C")]
    assert len(c_events) >= 3, classes
    largest = max(events, key=lambda e: e.peak_flux)
    assert largest.goes_class.startswith("C3")
    assert abs(largest.peak_time - at("2012-06-01", "22:42")) <= 2 * MINUTE
    for event in c_events:
        assert_noaa_definition(event, day_2012_06_01.samples)


# README of the shared folder: largest science-quality XRS-B value, its minute, NOAA's class
SCIENCE_DAYS = [
    ("2010-10-16", 4.55e-5, "19:12", "M2.9"),
    ("2012-07-12", 2.04e-4, "16:52", "X1.4"),
    ("2014-01-01", 1.42e-4, "18:52", "M9.9"),
    ("2014-10-24", 4.58e-4, "21:41", "X3.1"),
    ("2015-01-04", 1.86e-5, "15:36", "M1.3"),
]


@pytest.mark.parametrize(("date", "science_max", "hhmm", "noaa_class"), SCIENCE_DAYS)
def test_science_day_largest_flare(science_days: dict[str, GoesDay], date: str,
                                   science_max: float, hhmm: str, noaa_class: str) -> None:
    day = science_days[date]
    assert day.kind == "science" and day.flux_scale == SCIENCE_TO_OPERATIONAL
    largest_sample = max(day.samples, key=lambda s: s.flux)
    # the file is read right: its own maximum, unscaled, is the README's
    assert largest_sample.flux / day.flux_scale == pytest.approx(science_max, rel=0.01)
    flare = max(events_of(day), key=lambda e: e.peak_flux)
    assert abs(flare.peak_time - at(date, hhmm)) <= 2 * MINUTE
    # class scale = science x 0.7: the letter is NOAA's, the number within 12 %
    assert flare.goes_class[0] == noaa_class[0]
    assert flare.peak_flux == pytest.approx(class_flux(noaa_class), rel=0.12)
    # unscaled, the M9.9 day would read X1.4: the letter itself depends on the scale
    if noaa_class == "M9.9":
        assert goes_class(flare.peak_flux / day.flux_scale)[0] == "X"
    assert_noaa_definition(flare, day.samples)


def test_2010_10_16_against_ncei_flare_summary(science_days: dict[str, GoesDay],
                                               shared_goes: Path) -> None:
    """Peaks agree to the minute and in flux; ends within 2 min; begins as stated."""
    day = science_days["2010-10-16"]
    ours = events_of(day)
    reference = read_flare_summary(shared_goes / "sci_xrsf-l2-flsum_g15_d20101016_v1-0-0.nc")
    assert [r.flare_class for r in reference] == ["B3.6", "B1.8", "C1.0", "M4.5"]
    matched = 0
    for ref in reference:
        candidates = [e for e in ours if abs(e.peak_time - ref.peak_time) <= 2 * MINUTE]
        if ref.flare_class == "B1.8":
            # NCEI's onset rule is more sensitive than SWPC's 1.4x-in-4-minutes: this
            # B1.8 bump (1.08e-7 -> 1.88e-7 over 13 min) is no event under NOAA's rule
            assert not candidates
            continue
        assert len(candidates) == 1, ref
        event = candidates[0]
        matched += 1
        assert event.peak_time == ref.peak_time
        assert event.peak_flux / day.flux_scale == pytest.approx(ref.peak_flux, rel=1e-5)
        # NCEI classes science-scale fluxes (M4.5 there is M3.1 here)
        assert ref.flare_class == goes_class(ref.peak_flux)
        assert event.goes_class == goes_class(ref.peak_flux * SCIENCE_TO_OPERATIONAL)
        # NCEI ends are 1-2 min later: it measures the half-decay from its earlier onset
        assert 0 <= ref.end_time - event.end_time <= 2 * MINUTE
        # NCEI's onset backs up to where the slow rise began: never later than ours
        assert 0 <= event.begin_time - ref.begin_time <= 15 * MINUTE
    assert matched == 3
    m_flare = max(ours, key=lambda e: e.peak_flux)
    assert m_flare.begin_time == at("2010-10-16", "19:06")  # the M flare: same begin


def _catalog(path: Path, dates: set[str]) -> list[dict[str, object]]:
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            date = datetime.strptime(row["DATE"], "%y%m%d").strftime("%Y-%m-%d")
            if date not in dates:
                continue

            def t(hhmm: str, date: str = date) -> float:
                value = int(hhmm)
                return at(date, f"{value // 100:02d}:{value % 100:02d}")
            value = int(row["CMX_VALUE"]) / 10.0
            rows.append({"date": date, "begin": t(row["START_TIME"]), "peak": t(row["MAX_TIME"]),
                         "end": t(row["END_TIME"]), "class": f"{row['CMX']}{value:.1f}"})
    return rows


def test_science_days_against_swpc_event_list(science_days: dict[str, GoesDay],
                                              shared_goes: Path) -> None:
    """SWPC's list (operational data) vs ours (science data x 0.7): 14 of 17 events
    found with begin, peak and end within 3 minutes; the three missed are slow
    C-class rises (07:26 C1.0, 14:31 C5.1, 04:16 C2.1) that never rise 40 % in
    4 minutes in the science data."""
    catalog = _catalog(shared_goes / "goes_catalog_with_noaa_ar2.csv", set(science_days))
    assert len(catalog) == 17
    found, missed = 0, []
    for ref in catalog:
        events = events_of(science_days[str(ref["date"])])
        near = [e for e in events if abs(e.peak_time - float(ref["peak"])) <= 3 * MINUTE]
        if not near:
            missed.append(f"{ref['date']} {ref['class']}")
            continue
        event = near[0]
        found += 1
        assert abs(event.begin_time - float(ref["begin"])) <= 3 * MINUTE \
            or event.peak_flux >= 1e-4, (ref, event.describe())  # X1.4: slow LDE onset
        assert abs(event.end_time - float(ref["end"])) <= 5 * MINUTE, (ref, event.describe())
        assert event.goes_class[0] == str(ref["class"])[0]
        assert event.peak_flux == pytest.approx(class_flux(str(ref["class"])), rel=0.12)
    assert found >= 14, missed
    assert len(missed) <= 3


def test_refused_values_are_counted_not_raised(science_days: dict[str, GoesDay]) -> None:
    # 2010-10-16 has 31 minutes flagged bad by NCEI, 2012-07-12 eight fill values
    assert science_days["2010-10-16"].counts["flagged"] == 31
    assert science_days["2012-07-12"].counts["fill_value"] == 8
    assert len(science_days["2012-07-12"].samples) == 1440 - 8
    assert all(s.flux > 0 for d in science_days.values() for s in d.samples)


def test_sunpy_netcdf_science_file_is_scaled() -> None:
    """A GOES-13 NCEI science file through sunpy's reader gets the 0.7 factor."""
    from monitor.goes.files import read_goes_file

    day = read_goes_file(sunpy_test_file("goes_13_leap_second.nc"), min_per_minute=5)
    assert day.kind == "science" and day.flux_scale == SCIENCE_TO_OPERATIONAL
    assert day.samples and day.samples[0].time == datetime(
        2015, 6, 30, 23, 56, tzinfo=UTC).timestamp()
