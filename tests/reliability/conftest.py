"""Helpers for reliability tests: synthetic inputs, daemon configs and subprocesses."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.synth import SynthFeed


def _m_flare(factory: pytest.TempPathFactory, name: str, seed: int, frames: int) -> Path:
    out = factory.mktemp(name) / "files"
    feed = SynthFeed("m_flare", out, size=512, speed=0, seed=seed, duration_s=60 * frames - 60,
                     truth_path=out.parent / "truth.jsonl")
    assert len(list(feed.run())) == frames * 7
    return out


@pytest.fixture(scope="session")
def m_flare_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 frames (112 files) of the M-flare scenario at 512 px, written once per session."""
    return _m_flare(tmp_path_factory, "m_flare", 11, 16)


@pytest.fixture(scope="session")
def m_flare_files_long(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames (210 files) of the M-flare scenario at 512 px (room for ten kills)."""
    return _m_flare(tmp_path_factory, "m_flare_long", 12, 30)

def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the reliability summary (faults, expected, delivered, duplicates, lost) and keep
    it in ``var/reliability-summary.md`` for docs/benchmarks.md."""
    from support import OUTCOMES, outcome_table

    if not OUTCOMES:
        return
    table = outcome_table(OUTCOMES)
    terminalreporter.write_sep("-", "reliability summary")
    terminalreporter.write_line(table)
    target = Path(str(terminalreporter.config.rootpath)) / "var" / "reliability-summary.md"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(table + "\n", encoding="utf-8")
    except OSError as exc:  # a read-only checkout still gets the table on the terminal
        terminalreporter.write_line(f"(not written to {target}: {exc})")
