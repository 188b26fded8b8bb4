"""Shared fixtures for the synthetic-Sun tests: one small feed run per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.synth import SynthFeed


@pytest.fixture(scope="session")
def m_flare_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """The m_flare scenario at 1024 px, shortened, with a visible pointing offset and roll."""
    out = tmp_path_factory.mktemp("synth_m_flare")
    feed = SynthFeed("m_flare", out, size=1024, speed=0, seed=11, duration_s=840,
                     cadence_s=120, offset_px=(18.0, -11.0), crota2_deg=1.5)
    list(feed.run())
    lines = [json.loads(line) for line in feed.truth_path.read_text().splitlines()]
    return out, lines
