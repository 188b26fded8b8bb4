"""Detector rules on hand-made series: gaps, satellite switches, overlapping flares, order."""

from __future__ import annotations

from monitor.goes.detect import FlareDetector, detect_flares
from monitor.goes.samples import GoesSample
from monitor.goes.settings import DetectionSettings

T0 = 1_700_000_000.0 // 60 * 60


def series(values: list[float | None], satellite: int | list[int] = 16) -> list[GoesSample]:
    """One sample a minute from T0; None leaves the minute out (a gap)."""
    sats = satellite if isinstance(satellite, list) else [satellite] * len(values)
    return [GoesSample(T0 + i * 60, v, s) for i, (v, s) in enumerate(zip(values, sats))
            if v is not None]


QUIET = [1e-7] * 5
FLARE = [1.2e-7, 2e-7, 8e-7, 5e-6, 2e-5, 3e-5, 2.5e-5, 1.8e-5, 1.4e-5, 1.0e-5, 8e-6]


def test_simple_flare_begin_peak_end() -> None:
    (event,) = detect_flares(series(QUIET + FLARE + [1e-7] * 3))
    # the last quiet minute starts the run 1e-7 < 1.2e-7 < 2e-7 < 8e-7 (8x >= 1.4x)
    assert event.begin_time == T0 + 4 * 60 and event.background_flux == 1e-7
    assert event.peak_time == T0 + 10 * 60 and event.peak_flux == 3e-5
    # half level = 1e-7 + (3e-5 - 1e-7)/2 = 1.505e-5: first at/below is 1.4e-5 (minute 13)
    assert event.end_time == T0 + 13 * 60 and event.end_reason == "half_decay"
    assert event.goes_class == "M3.0" and event.noaa_scale == "R1"
    assert event.crossings["M"] == T0 + 9 * 60 and "R2" not in event.crossings
    assert event.integrated_flux_j_m2 == sum(v * 60 for v in [1e-7, *FLARE[:9]])


def test_updates_announce_begin_thresholds_and_end_once() -> None:
    detector = FlareDetector(DetectionSettings(), feed="t")
    values = QUIET + [1.2e-7, 2e-7, 8e-7, 5e-6, 6e-5, 1.2e-4, 9e-5, 5e-5] + [1e-7] * 3
    updates = [u for s in series(values) for u in detector.push(s)]
    assert [(u.state, u.level) for u in updates] == [
        ("begin", None), ("threshold", "R1"), ("threshold", "R2"), ("threshold", "R3"),
        ("end", None)]
    begin = updates[0].event
    assert begin.end_time is None and begin.peak_flux == 8e-7  # as seen at the 4th minute
    assert updates[-1].event.goes_class == "X1.2" and updates[-1].event.noaa_scale == "R3"


def test_no_event_without_a_steep_rise() -> None:
    slow = [1e-6 * (1.05 ** i) for i in range(60)]  # +5 %/min: 1.4x needs 7 minutes
    assert detect_flares(series(slow)) == []
    low = [1e-8 * (2 ** i) for i in range(4)] + [1e-8] * 3  # steep but below B1
    assert detect_flares(series(low)) == []


def test_gap_breaks_a_rise_and_ends_a_long_running_event() -> None:
    # the missing minute splits the rise: no run of 4 consecutive minutes
    assert detect_flares(series(QUIET + [2e-7, 4e-7, None, 8e-6, 2e-5] + [2e-5] * 3)) == []
    short_gap = QUIET + FLARE[:7] + [None, None] + FLARE[9:] + [1e-7]
    (event,) = detect_flares(series(short_gap))
    assert "data_gap" in event.flags and event.end_reason == "half_decay"
    settings = DetectionSettings(max_gap_s=600)
    long_gap = QUIET + FLARE[:7] + [None] * 20 + [1e-7] * 3
    (event,) = detect_flares(series(long_gap), settings)
    assert event.end_reason == "data_gap" and event.end_time == T0 + 11 * 60


def test_satellite_switch_is_not_a_rise() -> None:
    # GOES-16 reads ~45 % above GOES-15 at the switch: no spurious event
    values = [1.0e-6, 1.0e-6, 1.02e-6, 1.05e-6, 1.5e-6, 1.52e-6, 1.55e-6, 1.56e-6, 1.57e-6]
    sats = [15] * 4 + [16] * 5
    assert detect_flares(series(values, sats)) == []
    # without the satellite numbers the same values make an event
    unlabeled = [GoesSample(s.time, s.flux, None) for s in series(values, sats)]
    assert len(detect_flares(unlabeled)) == 1
    # a switch during a flare flags it and the flare goes on
    during = QUIET + FLARE + [1e-7]
    sats = [15] * 12 + [16] * (len(during) - 12)
    (event,) = detect_flares(series(during, sats))
    assert "satellite_switch" in event.flags and event.peak_flux == 3e-5


def test_new_rise_during_decay_splits_events() -> None:
    decay = [2.2e-5, 1.9e-5, 1.7e-5]  # still above half of 3e-5
    second = [1.8e-5, 3e-5, 5e-5, 8e-5, 6e-5, 3e-5, 1e-5]
    values = QUIET + FLARE[:7] + decay + second
    first, later = detect_flares(series(values))
    assert first.end_reason == "next_event" and first.peak_flux == 3e-5
    # the run 1.7e-5 < 1.8e-5 < 3e-5 < 5e-5 begins below 0.8 x 3e-5: a new event
    assert later.begin_time == first.end_time == T0 + 14 * 60
    assert later.peak_flux == 8e-5 and later.end_reason == "half_decay"


def test_out_of_order_samples_are_ignored() -> None:
    detector = FlareDetector()
    samples = series(QUIET + FLARE)
    for s in samples:
        detector.push(s)
    assert detector.push(samples[3]) == [] and detector.ignored_out_of_order == 1
