"""A model switch under load, on the real daemon: SIGHUP mid-burst, then a broken package.

The daemon runs as systemd runs it (``sdo-monitor run``), its package path a
symlink (``models/current``), on the local broker with one partition, so the
frames topic holds the frames in the order the daemon analysed them. The
burst is 16 frames of real FITS files from the synthetic feed; half-way the
link is pointed at a second package and the daemon gets ``SIGHUP``. Then the
link is pointed at a tampered copy and it gets ``SIGHUP`` again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import urllib.request
from pathlib import Path

import pytest
from support import (
    copy_frames,
    frames_in_time_order,
    kill,
    ledger_counts,
    read_frames,
    spawn,
    spool_feeds,
    wait_for,
    wait_ready,
    write_config,
)

from monitor.models.layout import ONNX
from monitor.models.testing import make_random_package
from monitor.synth import SynthFeed

FRAMES = 16
LATER = 2  # frames sent after the broken package was refused


@pytest.fixture(scope="module")
def burst(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("switch") / "files"
    feed = SynthFeed("m_flare", out, size=512, speed=0, seed=21,
                     duration_s=60 * (FRAMES + LATER) - 60)
    assert len(list(feed.run())) == (FRAMES + LATER) * 7
    return frames_in_time_order(out)


def _link(link: Path, target: Path) -> None:
    temp = link.with_name(f".{link.name}.tmp")
    temp.unlink(missing_ok=True)
    temp.symlink_to(target)
    os.replace(temp, link)


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sighup_mid_burst_switches_cleanly_and_a_broken_package_is_refused(
        tmp_path: Path, kafka_bootstrap: str, burst: list[Path]) -> None:
    models = tmp_path / "models"
    a = make_random_package(models / "a", size=64, seed=1, spec={"name": "pkg-a"})
    b = make_random_package(models / "b", size=64, seed=2, spec={"name": "pkg-b"})
    broken = models / "broken"
    shutil.copytree(b.path, broken)
    onnx = bytearray((broken / ONNX).read_bytes())
    onnx[len(onnx) // 2] ^= 0xFF
    (broken / ONNX).write_bytes(bytes(onnx))
    link = models / "current"
    _link(link, a.path)

    spool, state = tmp_path / "spool", tmp_path / "state"
    spool.mkdir()
    prefix = "switch.sighup"
    cfg = write_config(tmp_path / "cfg.yaml", state=state, bootstrap=kafka_bootstrap,
                       prefix=prefix, package=link, feeds=spool_feeds(spool),
                       http_port=(port := _free_port()))
    # one partition: the topic's order is the order of analysis; SIGHUP alone switches
    cfg.write_text(cfg.read_text().replace("partitions: 2", "partitions: 1").replace(
        "warmup_iterations: 1}", "warmup_iterations: 1, package_watch_s: 0}"))
    log = tmp_path / "daemon.log"
    daemon = spawn("run", "-c", str(cfg), log=log)
    try:
        wait_ready(daemon, log)
        copy_frames(burst, spool, range(FRAMES))  # the whole burst at once
        wait_for(lambda: ledger_counts(state).get("processed", 0) >= 4 * 7, 120,
                 what="a quarter of the burst analysed")
        _link(link, b.path)
        daemon.send_signal(signal.SIGHUP)
        events = read_frames(kafka_bootstrap, f"{prefix}.frames", FRAMES, 120)

        _link(link, broken)
        daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: "model switch refused" in _get(port, "/readyz")[1], 60,
                 what="the refusal on /readyz")
        wait_for(lambda: "sdo_monitor_model_switch_refused 1.0" in _get(port, "/metrics")[1],
                 30, what="the refusal gauge (the alert rule's input)")
        status, body = _get(port, "/readyz")
        _, metrics = _get(port, "/metrics")
        _, api_status = _get(port, "/api/v1/status")
        copy_frames(burst, spool, range(FRAMES, FRAMES + LATER))
        later = read_frames(kafka_bootstrap, f"{prefix}.frames", FRAMES + LATER, 60)
    finally:
        kill(daemon, signal.SIGTERM)
        kill(daemon)
    text = log.read_text()
    assert "Traceback" not in text

    # every frame exactly once, each naming exactly one package, A before B
    ids = [e["data"]["frame_id"] for e in events]
    assert len(ids) == FRAMES and len(set(ids)) == FRAMES, ids
    shas = [e["data"]["model"]["sha256"] for e in events]
    assert set(shas) == {a.sha256, b.sha256}, "the switch landed mid-burst"
    switch_at = shas.index(b.sha256)
    assert shas == [a.sha256] * switch_at + [b.sha256] * (FRAMES - switch_at), shas
    names = {e["data"]["model"]["sha256"]: e["data"]["model"]["name"] for e in events}
    assert names == {a.sha256: "pkg-a", b.sha256: "pkg-b"}
    assert "model switch: switched" in text

    # the broken package: refused with its reason, the old one keeps serving
    readiness = json.loads(body)
    assert status == 200 and readiness["ready"]
    assert any("model switch refused (hash_mismatch)" in d and "still serving pkg-b" in d
               for d in readiness["degraded"]), readiness
    assert 'sdo_monitor_model_switch_refusals_total{reason="hash_mismatch"} 1.0' in metrics
    last = json.loads(api_status)["model_switch"]  # what `promote --wait` reads
    assert (last["result"], last["reason"], last["target"]) == (
        "refused", "hash_mismatch", str(broken.resolve()))
    assert last["serving"]["sha256"] == b.sha256
    assert 'sdo_monitor_model_switches_total{result="switched"} 1.0' in metrics
    assert f'sha256="{b.sha256}"' in metrics  # sdo_monitor_model_info: still B
    refusals = [line for line in text.splitlines() if "model switch refused" in line]
    assert len(refusals) == 1 and "hash_mismatch" in refusals[0]
    assert len({e["data"]["frame_id"] for e in later}) == FRAMES + LATER
    assert len(later) == FRAMES + LATER
    assert all(e["data"]["model"]["sha256"] == b.sha256 for e in later[FRAMES:])
