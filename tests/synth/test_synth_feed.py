"""The spool feed: order and pacing of files, truth sidecar, gaps, flags, eclipse, asyncio."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
import sunpy.map

from monitor.synth import SynthFeed
from monitor.synth.responses import channel_spec
from monitor.synth.scenario import QUALITY_BITS


def _truth(feed: SynthFeed) -> list[dict]:
    return [json.loads(line) for line in feed.truth_path.read_text().splitlines()]


def test_files_arrive_in_aia_cycle_order_with_one_truth_line_each(tmp_path: Path) -> None:
    feed = SynthFeed("c_flare", tmp_path, size=512, speed=0, seed=1, duration_s=120)
    written = list(feed.run())
    assert len(written) == 3 * 7
    times = [w.t_obs for w in written]
    assert times == sorted(times)
    first = [w.wavelength for w in written[:7]]
    assert first == sorted(first, key=lambda w: channel_spec(w).t_obs_offset_s)
    spread = (written[6].t_obs - written[0].t_obs).total_seconds()
    assert 5 < spread < 12  # channels of one observation a few seconds apart
    truth = _truth(feed)
    assert [line["index"] for line in truth] == [0, 1, 2]
    assert all(len(line["files"]) == 7 for line in truth)
    assert {p.name for p in tmp_path.glob("*.fits")} == \
        {name for line in truth for name in line["files"].values()}


class FakeClock:
    """Fake clock for pacing tests: time moves only when the feed sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


def test_speed_paces_the_files(tmp_path: Path) -> None:
    clock = FakeClock()
    feed = SynthFeed("quiet_sun", tmp_path, size=512, speed=60, seed=1, duration_s=60,
                     channels=(171, 211), sleep=clock.sleep, clock=clock)
    arrivals = [(w.wavelength, clock.now - 1000.0) for w in feed.run()]
    # Each file is due (observation time + channel offset in the 12 s cycle) / speed.
    expected = [(211, 0.6 / 60), (171, 10.3 / 60), (211, 60.6 / 60), (171, 70.3 / 60)]
    assert [w for w, _ in arrivals] == [w for w, _ in expected]
    for (_, got), (_, due) in zip(arrivals, expected):
        assert got == pytest.approx(due, abs=1e-9)
    assert clock.sleeps == 4


def test_data_gap_writes_truth_but_no_files(tmp_path: Path) -> None:
    feed = SynthFeed("data_gap", tmp_path, size=512, speed=0, seed=2, duration_s=1500,
                     cadence_s=60, channels=(94, 171))
    list(feed.run())
    truth = _truth(feed)
    gaps = [line["index"] * 60 for line in truth if line["gap"]]
    assert gaps == list(range(840, 1440, 60))
    assert all(line["files"] == {} for line in truth if line["gap"])
    assert all(len(line["files"]) == 2 for line in truth if not line["gap"])
    # Telemetry dropout at t = 1500 s: rows of BLANK pixels, flagged in QUALITY.
    dropout = truth[-1]
    assert all(q & 0x100 and q & 0x200 and q & 0x400 for q in dropout["quality"].values())
    m = sunpy.map.Map(tmp_path / dropout["files"]["171"])
    assert m.meta["missvals"] == round(0.12 * 512) * 512
    assert np.isnan(m.data).sum() == m.meta["missvals"]
    assert m.meta["quality"] == dropout["quality"]["171"]


def test_quality_flags_land_in_headers(tmp_path: Path) -> None:
    feed = SynthFeed("quality_flags", tmp_path, size=512, speed=0, seed=3, duration_s=900,
                     cadence_s=60)
    list(feed.run())
    truth = {line["index"]: line for line in _truth(feed)}
    calibration = truth[6]  # t = 360 s, inside 300-480 for 171 and 193
    assert calibration["quality"]["171"] == QUALITY_BITS["calibration_image"]
    assert calibration["quality"]["94"] == 0
    loop_open = truth[14]   # t = 840 s, inside 780-960, all channels
    assert set(loop_open["quality"].values()) == {QUALITY_BITS["iss_loop_open"]}
    m = sunpy.map.Map(tmp_path / calibration["files"]["171"])
    assert m.meta["quality"] == QUALITY_BITS["calibration_image"]


def test_eclipse_darkens_frames_and_sets_flags(tmp_path: Path) -> None:
    feed = SynthFeed("eclipse", tmp_path, size=512, speed=0, seed=4, duration_s=1500,
                     cadence_s=300, channels=(171,))
    list(feed.run())
    truth = {line["index"]: line for line in _truth(feed)}
    before, partial, total = truth[0], truth[3], truth[4]  # t = 0, 900 (ingress), 1200
    assert before["eclipse_fraction"] == 0 and before["quality"]["171"] == 0
    assert 0 < partial["eclipse_fraction"] <= 1
    assert total["eclipse_fraction"] == 1
    for line in (partial, total):
        assert line["quality"]["171"] & QUALITY_BITS["eclipse"]
    lit = sunpy.map.Map(tmp_path / before["files"]["171"])
    dark = sunpy.map.Map(tmp_path / total["files"]["171"])
    assert dark.meta["acs_eclp"] == "YES" and lit.meta["acs_eclp"] == "NO"
    assert np.median(lit.data) > 50
    assert abs(float(np.median(dark.data))) < 2  # read noise only
    # The Sun itself did not change: GOES truth is the same through the eclipse.
    assert total["goes_xrsb_flux"] == before["goes_xrsb_flux"]


def test_stop_and_asyncio_iteration(tmp_path: Path) -> None:
    feed = SynthFeed("m_flare", tmp_path, size=512, speed=0, seed=5)

    async def consume() -> int:
        count = 0
        async for _ in feed.arun():
            count += 1
            if count == 9:
                feed.stop()
        return count

    count = asyncio.run(consume())
    assert 9 <= count < 14  # stops within the observation it is writing
    assert len(list(tmp_path.glob("*.fits"))) == count
    assert not list(tmp_path.glob(".*.part"))
