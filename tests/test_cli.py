"""The ``sdo-monitor`` command line, run as an operator runs it (a subprocess)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import monitor
from monitor.cli import COMMAND_MODULES, build_parser

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).with_name("sdo-monitor")


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=timeout, check=False,
                          cwd=ROOT)


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"sdo-monitor {monitor.__version__}"


def test_every_subcommand_has_help() -> None:
    names = list(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert {"demo", "check-config"} <= set(names)
    assert len(names) >= len(COMMAND_MODULES)
    for name in names:
        result = run(name, "--help")
        assert result.returncode == 0, result.stderr
        assert f"sdo-monitor {name}" in result.stdout


def test_check_config_accepts_the_production_example() -> None:
    result = run("check-config", "--syntax-only", "config/sdo-monitor.yaml")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_check_config_names_the_files_missing_on_this_host() -> None:
    # the production example's Kafka CA is not installed on a development machine
    result = run("check-config", "config/sdo-monitor.yaml")
    assert result.returncode == 3 and "OK" not in result.stdout
    assert "kafka.ssl_cafile: file /etc/sdo-monitor/kafka-ca.pem does not exist" in result.stderr


def test_check_config_rejects_a_broken_file_naming_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds:\n  - {kind: spool, name: aia, path: /s, cadence_s: -5}\n")
    result = run("check-config", str(bad))
    assert result.returncode == 3
    assert "feeds[0].cadence_s: must be > 0, got -5" in result.stderr
    assert str(bad) in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_show_prints_effective_defaults(tmp_path: Path) -> None:
    result = run("check-config", "--show", "--allow-no-feeds", "config/demo.yaml")
    assert result.returncode == 0
    assert "drain_timeout_s: 20.0" in result.stdout


def test_check_config_require_secrets_fails_without_them() -> None:
    result = run("check-config", "--require-secrets", "--syntax-only", "config/sdo-monitor.yaml")
    assert result.returncode == 0  # --syntax-only looks at neither files nor secrets
    result = run("check-config", "--require-secrets", "config/sdo-monitor.yaml")
    assert result.returncode == 3
    assert "SDO_MONITOR_KAFKA_PASSWORD is not set" in result.stderr
    assert "OK" not in result.stdout  # one verdict, not "OK" and then exit 3


def test_unknown_subcommand_is_a_usage_error() -> None:
    result = run("frobnicate")
    assert result.returncode == 2


def _demo_config(tmp_path: Path, package: Path) -> Path:
    cfg = tmp_path / "demo.yaml"
    cfg.write_text(f"inference: {{model_package: {package}}}\nhttp: {{port: 0}}\n")
    return cfg


def test_demo_runs_the_daemon_on_a_synthetic_feed(tmp_path: Path,
                                                   untrained_package: Path) -> None:
    result = run("demo", "-c", str(_demo_config(tmp_path, untrained_package)),
                 "--scenario", "m_flare", "--speed", "900", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    frames = [line for line in result.stdout.splitlines() if line.startswith("frame ")]
    assert len(frames) >= 40  # 45 minutes at 60 s cadence
    assert "daemon ready" in result.stdout
    # the started daemon's heap (torch, astropy, the package) is out of the collector's way
    frozen = re.search(r"frozen_objects=(\d+)", result.stdout + result.stderr)
    assert frozen is not None and int(frozen.group(1)) > 100_000
    assert "local broker stopped" in result.stderr
    assert "Traceback" not in result.stderr
    assert "level=error" not in result.stderr


@pytest.mark.parametrize("fmt,needle", [("json", '"msg": "local broker ready"'),
                                        ("keyvalue", 'msg="local broker ready"')])
def test_log_format_switch(fmt: str, needle: str, tmp_path: Path,
                           untrained_package: Path) -> None:
    result = run("--log-format", fmt, "demo", "-c", str(_demo_config(tmp_path, untrained_package)),
                 "--duration", "1", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert needle in result.stderr


def test_command_line_overrides_are_validated_like_the_config() -> None:
    result = run("build-engine", "--list", "--max-batch", "0")
    assert result.returncode == 3
    assert "max_batch: must be >= 1, got 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_replay_progress_is_log_lines_with_an_eta_when_not_a_terminal() -> None:
    import io

    from monitor.commands.replay import Progress

    out = io.StringIO()  # not a terminal, like journald or a redirected log file
    progress = Progress(100, 0.0, out, every_s=10.0)
    for t, settled in ((1.0, 10), (5.0, 30), (11.5, 50), (30.0, 100)):
        progress.show(settled, settled // 7, t)
    progress.end()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 3 and lines[0] == "replay: 10/100 files, 1 frames, 10.0 files/s, ETA 9 s"
    assert lines[-1].endswith("ETA -")
