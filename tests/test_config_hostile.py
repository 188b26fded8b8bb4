"""Hostile and mistaken config files, table by table: each ends in exit 3 and one clear line.

Run through ``monitor.cli.main`` (the code path of ``sdo-monitor check-config``) so that
exit code and stderr are what an operator sees; one case also runs the real executable
to prove a bomb cannot hang the process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.cli import EXIT_CONFIG, main

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).with_name("sdo-monitor")


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def _write(text: str | bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / "config.yaml"
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path
    return make


def _fifo(tmp: Path) -> Path:
    path = tmp / "config.yaml"
    os.mkfifo(path)  # reading it would block forever
    return path


def _directory(tmp: Path) -> Path:
    (tmp / "config.d").mkdir()
    return tmp / "config.d"


def _missing_ca(tmp: Path) -> Path:
    return _write(f"kafka: {{bootstrap_servers: ['k:9093'], security_protocol: SSL, "
                  f"ssl_cafile: {tmp / 'absent-ca.pem'}}}\n"
                  f"feeds: [{{kind: spool, name: aia, path: {tmp}}}]\n")(tmp)


FEEDS = "feeds: [{kind: spool, name: aia, path: /srv/sdo/incoming}]\n"


def _bad_table(tmp: Path) -> Path:
    (tmp / "table.txt").write_text("DATE T_START\n2017-01-01 2010-01-01\n")
    return _write(f"preprocess: {{degradation_table: {tmp / 'table.txt'}}}\n" + FEEDS)(tmp)

# (case, builder, message the single line must contain)
CASES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("billion laughs", _write(_bomb()), "aliases are expanded"),
    ("recursive alias", _write("a: &a [1, *a]\n"), "recursive structure"),
    ("deep nesting", _write("[" * 100_000 + "]" * 100_000), "nested more than 32 levels"),
    ("deep mappings", _write("".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200
                             + "x: 1\n"), "nested more than 32 levels"),
    ("50 MB file", _write("# padding\n" * 5_000_000), "more than the 1048576"),
    ("binary", _write(bytes(range(256)) * 10), "NUL bytes"),
    ("latin-1 text", _write("service: {instance: caf\xe9}\n".encode("latin-1")), "not UTF-8"),
    ("a FIFO", _fifo, "not a regular file"),
    ("a directory", _directory, "not a regular file"),
    ("/dev/zero", lambda tmp: Path("/dev/zero"), "not a regular file"),
    ("missing", lambda tmp: tmp / "nope.yaml", "No such file"),
    ("empty file", _write(""), "no feeds"),
    ("a list, not a mapping", _write("- a\n- b\n"), "must be a mapping"),
    ("a JSON document of another tool", _write('{"apiVersion": "v1"}'),
     "unknown key"),
    ("Python source", _write("import os\nprint(os.environ)\n"), "must be a mapping"),
    ("1 MB instance name", _write("service: {instance: " + "x" * 1_000_000 + "}\n" + FEEDS),
     "at most 4096 characters"),
    ("instance with spaces", _write("service: {instance: 'ops 1'}\n" + FEEDS),
     "letters, digits"),
    ("missing Kafka CA file", _missing_ca, "kafka.ssl_cafile: file"),
    ("broken degradation table", _bad_table, "not a degradation table: "),
]


@pytest.mark.parametrize(("case", "build", "message"), CASES, ids=[c[0] for c in CASES])
def test_hostile_config_is_exit_3_with_one_clear_line(
        case: str, build: Callable[[Path], Path], message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = build(tmp_path)
    code = main(["check-config", str(path)])
    out, err = capsys.readouterr()
    assert code == EXIT_CONFIG, (case, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], (case, err[:2000])
    assert len(lines[0]) < 500 and "Traceback" not in err
    assert "OK" not in out


def test_no_feeds_is_accepted_when_asked_for(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = _write("")(tmp_path)
    assert main(["check-config", "--allow-no-feeds", str(path)]) == 0
    assert "OK (0 feeds" in capsys.readouterr().out


def test_a_bomb_does_not_hang_the_real_process(tmp_path: Path) -> None:
    path = _write(_bomb())(tmp_path)
    result = subprocess.run([str(EXE), "check-config", str(path)], capture_output=True,
                            text=True, timeout=120, check=False, cwd=ROOT)
    assert result.returncode == EXIT_CONFIG
    assert "aliases are expanded" in result.stderr and "Traceback" not in result.stderr


def test_the_daemon_refuses_to_start_without_its_ca_file(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "-c", str(_missing_ca(tmp_path))]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "kafka.ssl_cafile" in err and "absent-ca.pem" in err


def test_a_url_prefix_without_slash_is_accepted_with_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(f"feeds: [{{kind: kafka, name: notes, topic: t, spool: {tmp_path}, "
                  "url_prefixes: ['https://jsoc1.stanford.edu/data/aia']}]\n")(tmp_path)
    assert main(["check-config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "OK (1 feeds" in out
    assert "warning: feeds[0].url_prefixes[0]:" in err and "does not end in '/'" in err
