"""``sdo-monitor promote`` and ``rollback`` against a running daemon and without one."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest
from support import kill, spawn, spool_feeds, wait_ready, write_config

from monitor.cli import main
from monitor.models import ModelPackage, load_package
from monitor.models.promotion import install
from monitor.models.testing import make_random_package
from monitor.models.writing import update_documents


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _evaluated(path: Path, seed: int, name: str) -> ModelPackage:
    make_random_package(path, size=64, seed=seed, spec={"name": name})
    return update_documents(path, metrics={"status": "evaluated", "test": {}},
                            model_card=f"# {name}\n\nA test package.\n")


@pytest.fixture()
def setup(tmp_path: Path, kafka_bootstrap: str) -> dict:  # type: ignore[type-arg]
    a = _evaluated(tmp_path / "cand" / "a", 1, "pkg-a")
    b = _evaluated(tmp_path / "cand" / "b", 2, "pkg-b")
    link = tmp_path / "models" / "current"
    install(a, link)
    spool, state = tmp_path / "spool", tmp_path / "state"
    spool.mkdir()
    port = _free_port()
    cfg = write_config(tmp_path / "cfg.yaml", state=state, bootstrap=kafka_bootstrap,
                       prefix="promote", package=link, feeds=spool_feeds(spool),
                       http_port=port)
    cfg.write_text(cfg.read_text().replace("warmup_iterations: 1}",
                                           "warmup_iterations: 1, package_watch_s: 0.5}"))
    return {"a": a, "b": b, "link": link, "cfg": cfg, "models": link.parent}


def test_without_a_daemon_there_is_no_evidence_and_nothing_moves(
        setup: dict, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[type-arg]
    before = os.readlink(setup["link"])
    assert main(["promote", "-c", str(setup["cfg"]), str(setup["b"].path)]) == 1
    err = capsys.readouterr().err
    assert "refused" in err and "live scores unavailable" in err
    assert os.readlink(setup["link"]) == before
    # an unevaluated package is refused whatever --force says
    raw = make_random_package(setup["models"].parent / "raw", size=64, seed=3)
    assert main(["promote", "-c", str(setup["cfg"]), str(raw.path), "--force"]) == 1
    assert "not evaluated" in capsys.readouterr().err
    # --force installs against the evidence, saying what it overrode
    assert main(["promote", "-c", str(setup["cfg"]), str(setup["b"].path), "--force",
                 "--wait", "0"]) == 0
    out = capsys.readouterr().out
    assert "overridden by --force: live scores unavailable" in out
    assert load_package(setup["link"]).sha256 == setup["b"].sha256
    assert main(["rollback", "-c", str(setup["cfg"]), "--wait", "0"]) == 0
    assert load_package(setup["link"]).sha256 == setup["a"].sha256


def test_promote_and_rollback_reach_the_running_daemon(
        setup: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[type-arg]
    log = tmp_path / "daemon.log"
    daemon = spawn("run", "-c", str(setup["cfg"]), log=log)
    try:
        wait_ready(daemon, log)
        # no GOES verification configured: no live scores, so only --force promotes
        assert main(["promote", "-c", str(setup["cfg"]), str(setup["b"].path)]) == 1
        assert "no live scores for the candidate" in capsys.readouterr().err
        assert main(["promote", "-c", str(setup["cfg"]), str(setup["b"].path), "--force",
                     "--wait", "60"]) == 0
        assert f"serving pkg-b:0.0.0 ({setup['b'].sha256[:12]})" in capsys.readouterr().out
        assert main(["rollback", "-c", str(setup["cfg"]), "--wait", "60"]) == 0
        assert f"serving pkg-a:0.0.0 ({setup['a'].sha256[:12]})" in capsys.readouterr().out
    finally:
        kill(daemon)
    text = log.read_text()
    assert text.count("model switch: switched") == 2 and "Traceback" not in text
    shutil.rmtree(setup["models"])
