"""``sdo-monitor synth``: the subcommand parses, runs and reports errors with exit codes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from monitor.synth.command import add_subparser


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sdo-monitor")
    add_subparser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_synth_writes_a_short_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["synth", "--scenario", "x_flare", "--out", str(tmp_path / "spool"),
                   "--size", "512", "--speed", "0", "--seed", "9", "--duration", "60",
                   "--channels", "94,131", "--truth", str(tmp_path / "truth.jsonl")])
    assert args.func(args) == 0
    assert len(list((tmp_path / "spool").glob("*.fits"))) == 4
    lines = (tmp_path / "truth.jsonl").read_text().splitlines()
    assert [json.loads(line)["seed"] for line in lines] == [9, 9]
    assert "seed 9" in capsys.readouterr().out


def test_list_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["synth", "--list-scenarios"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "m_flare" in out and "eclipse" in out


def test_errors_give_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["synth", "--scenario", "nope", "--out", str(tmp_path)])
    assert args.func(args) == 3
    assert "no scenario 'nope'" in capsys.readouterr().err
    args = _parse(["synth", "--scenario", "demo"])
    assert args.func(args) == 2
    with pytest.raises(SystemExit):
        _parse(["synth", "--channels", "94,555", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        _parse(["synth", "--size", "300", "--out", str(tmp_path)])
