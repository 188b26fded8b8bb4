"""A running daemon on loopback, seen by a real Prometheus server and by headless Chromium.

One daemon for the module (the untrained model package, a synthetic flare feed
in a spool directory, the session's Kafka broker): the Prometheus test scrapes
it and queries metrics back through Prometheus's HTTP API (with the alert
rules loaded and evaluated), the API test checks the routes on real frames
against the OpenAPI schemas, and the page test loads ``/`` in Chromium,
checks what it rendered and takes the screenshot for the docs
(``SDO_MONITOR_SCREENSHOT_DIR=docs/img`` copies it there).
"""

from __future__ import annotations

import asyncio
import html.parser
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_observe_openapi import validate

from monitor.app import Daemon
from monitor.config import Config, parse_config
from monitor.synth import SynthFeed

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "sdo-monitor.rules.yml"
#: Rules Prometheus must load from the file (alerts and recordings alike).
RULE_COUNT = sum(len(g["rules"]) for g in yaml.safe_load(RULES.read_text())["groups"])
PROMETHEUS = shutil.which("prometheus")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FEED_DURATION_S = float(os.environ.get("SDO_MONITOR_LIVE_DURATION_S", "420"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _config(tmp: Path, spool: Path, package: Path) -> Config:
    return parse_config(f"""
service:
  state_dir: {tmp / 'state'}
  cache_dir: {tmp / 'cache'}
  ingest_executor: thread
  ingest_workers: 2
http: {{host: 127.0.0.1, port: 0}}
kafka: {{topic_prefix: live8, partitions: 1}}
inference: {{model_package: {package}, backend: onnxruntime, max_batch: 2, warmup_iterations: 1}}
frames: {{wait_s: 20}}
feeds:
  - {{kind: spool, name: aia, path: {spool}, cadence_s: 60, stable_s: 0.5, poll_interval_s: 0.2}}
""")


@dataclass
class Live:
    base: str
    frames: int
    files: int


class _DaemonThread:
    """The daemon on its own event loop in a thread (the tests speak HTTP to it)."""

    def __init__(self, config: Config, bootstrap: str) -> None:
        self.config, self.bootstrap = config, bootstrap
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.result: int | BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="live-daemon", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.stop = asyncio.Event()
        self.daemon = Daemon(self.config, [self.bootstrap])
        self.started.set()
        try:
            self.result = self.loop.run_until_complete(self.daemon.run(self.stop))
        except BaseException as exc:  # noqa: BLE001 - reported by close()
            self.result = exc

    def start(self, timeout: float = 90.0) -> str:
        self.thread.start()
        self.started.wait(10)
        asyncio.run_coroutine_threadsafe(self.daemon.wait_ready(timeout), self.loop).result(
            timeout + 5)
        host, port = self.daemon.http_address
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(90)
        assert self.result == 0, self.result


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, kafka_broker: Any,
         untrained_package: Path) -> Iterator[Live]:
    if not kafka_broker.running:
        kafka_broker.start()
    tmp = tmp_path_factory.mktemp("live")
    staging, spool = tmp / "staging", tmp / "spool"
    feed = SynthFeed("m_flare", staging, size=512, speed=0, seed=11,
                     duration_s=FEED_DURATION_S, truth_path=tmp / "truth.jsonl")
    written = list(feed.run())
    spool.mkdir()
    runner = _DaemonThread(_config(tmp, spool, untrained_package), kafka_broker.bootstrap)
    base = runner.start()
    try:
        for f in written:
            shutil.move(str(f.path), spool / f.path.name)
        expected = len(written) // 7
        deadline = time.monotonic() + 240
        frames = 0
        while time.monotonic() < deadline:
            # reading the API is also what a status page does while frames arrive
            status = json.loads(_get(f"{base}/api/v1/status")[1])
            _get(f"{base}/api/v1/frames/latest")
            frames = status["counts"]["frames"]
            if frames >= expected:
                break
            time.sleep(0.25)
        assert frames == expected, f"{frames} of {expected} frames analysed"
        yield Live(base, frames, len(written))
    finally:
        runner.close()


# -- Prometheus ----------------------------------------------------------------------
@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus server not installed (Debian "
                                               "package 'prometheus'; `make test` installs it)")
def test_prometheus_scrapes_the_daemon_and_evaluates_the_rules(live: Live,
                                                               tmp_path: Path) -> None:
    port = _free_port()
    target = urllib.parse.urlsplit(live.base).netloc
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{RULES}"]
scrape_configs:
  - job_name: sdo-monitor
    static_configs: [{{targets: ["{target}"]}}]
""")
    log = (tmp_path / "prometheus.log").open("w")
    server = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        value = rules_ok = None
        while time.monotonic() < deadline and (value is None or not rules_ok):
            time.sleep(0.5)
            if server.poll() is not None:
                break
            try:
                query = urllib.parse.quote('sdo_monitor_files_total{outcome="processed"}')
                status, raw = _get(f"{api}/query?query={query}", timeout=5)
            except OSError:
                continue  # not listening yet
            result = json.loads(raw)["data"]["result"] if status == 200 else []
            if result:
                value = float(result[0]["value"][1])
                groups = json.loads(_get(f"{api}/rules")[1])["data"]["groups"]
                healths = [r["health"] for g in groups for r in g["rules"]]
                rules_ok = len(healths) == RULE_COUNT and set(healths) == {"ok"}
        assert server.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
        assert value == 7 * live.frames, value
        assert rules_ok, "the alert rules did not all evaluate cleanly on real data"
        targets = json.loads(_get(f"{api}/targets")[1])["data"]["activeTargets"]
        assert [t["health"] for t in targets] == ["up"]
        query = urllib.parse.quote("sum(sdo_monitor_end_to_end_seconds_count)")
        result = json.loads(_get(f"{api}/query?query={query}")[1])["data"]["result"]
        assert float(result[0]["value"][1]) >= 1
        # nothing is wrong with this daemon: no alert may be firing
        alerts = json.loads(_get(f"{api}/alerts")[1])["data"]["alerts"]
        assert not [a for a in alerts if a["state"] == "firing"], alerts
    finally:
        server.terminate()
        server.wait(30)
        log.close()


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool not installed (Debian package 'prometheus')")
def test_daemon_metrics_pass_promtool_lint(live: Live) -> None:
    code, exposition = _get(f"{live.base}/metrics")
    assert code == 200 and b"sdo_monitor_frames_total" in exposition
    run = subprocess.run([shutil.which("promtool"), "check", "metrics"], input=exposition,
                         capture_output=True, check=False, timeout=60)
    assert run.returncode == 0, (run.stdout + run.stderr).decode()[-2000:]


# -- the API on real frames ---------------------------------------------------------------
def test_api_on_real_frames_matches_the_openapi_document(live: Live) -> None:
    b = live.base
    status = json.loads(_get(f"{b}/api/v1/status")[1])
    validate(status, "/api/v1/status")
    assert status["counts"]["frames"] == live.frames and "aia" in status["feeds"]
    latest = json.loads(_get(f"{b}/api/v1/frames/latest")[1])
    validate(latest, "/api/v1/frames/latest")
    code, raw = _get(f"{b}/api/v1/frames/{latest['frame_id']}")
    assert code == 200 and json.loads(raw)["frame_id"] == latest["frame_id"]
    validate(json.loads(raw), "/api/v1/frames/{frame_id}")
    page = json.loads(_get(f"{b}/api/v1/frames?limit=2")[1])
    validate(page, "/api/v1/frames")
    assert page["frames"][0]["frame_id"] == latest["frame_id"]
    channels = json.loads(_get(f"{b}/api/v1/channels")[1])
    validate(channels, "/api/v1/channels")
    assert sorted(c["channel"] for c in channels["channels"]) == [94, 131, 171, 193, 211, 304,
                                                                  335]
    history = json.loads(_get(f"{b}/api/v1/history?hours=6")[1])
    validate(history, "/api/v1/history")
    assert len(history["feeds"]["aia"]["irradiance_w_m2"]) == 14
    validate(json.loads(_get(f"{b}/api/v1/alerts")[1]), "/api/v1/alerts")
    code, png = _get(f"{b}/api/v1/saliency/latest.png")
    assert code == 200 and png.startswith(b"\x89PNG\r\n\x1a\n")
    assert latest["overlay_url"] and _get(b + latest["overlay_url"])[1] == png
    code, raw = _get(f"{b}/api/v1/frames/{latest['frame_id'].upper()}")
    assert code == 400 and json.loads(raw)["error"]["code"] == "bad_request"


# -- the status page ---------------------------------------------------------------------
class _Dom(html.parser.HTMLParser):
    """Elements with their attributes, in document order (enough for assertions)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.elements if t == tag
                and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]


def _chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
         "--hide-scrollbars", "--window-size=1400,1560", "--virtual-time-budget=8000",
         *extra, url],
        capture_output=True, check=False, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package "
                                             "'chromium'; `make test` installs it)")
def test_status_page_renders_in_headless_chromium(live: Live, tmp_path: Path) -> None:
    latest = json.loads(_get(f"{live.base}/api/v1/frames/latest")[1])
    history = json.loads(_get(f"{live.base}/api/v1/history?hours=6")[1])
    run = _chromium(f"{live.base}/", tmp_path / "profile-dom", "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    dom = _Dom()
    dom.feed(run.stdout)
    (body,) = dom.find("body")
    assert body["data-state"] == "ready", run.stdout[:3000]
    assert dom.find("tr", data_feed="aia")
    assert dom.find("tr", data_role="serving")  # the models table (champion vs challengers)
    channel_rows = [a for t, a in dom.elements if t == "tr" and a.get("data-channel")]
    assert sorted(int(a["data-channel"]) for a in channel_rows) == [94, 131, 171, 193, 211,
                                                                    304, 335]
    (overlay,) = dom.find("img", id="overlay")
    assert int(overlay.get("data-loaded") or 0) > 0, "the overlay PNG did not load"
    sparks = [a for t, a in dom.elements if t == "svg" and a.get("class") == "spark"]
    assert len(sparks) == 14
    points = len(history["feeds"]["aia"]["t"])
    assert all(int(a["data-points"]) == points for a in sparks)
    regions = [a for t, a in dom.elements if t == "tr" and a.get("class") == "region"]
    expected = sum(len(t["regions"]) for t in (latest["saliency"] or {}).get("targets", []))
    assert len(regions) == expected
    classes = [a["data-class"] for t, a in dom.elements if t == "div" and a.get("data-class")]
    assert classes == ["none", "C", "M", "X"]

    shot = tmp_path / "status_page.png"
    run = _chromium(f"{live.base}/", tmp_path / "profile-shot", f"--screenshot={shot}")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    import cv2

    image = cv2.imread(str(shot))
    assert image.shape[:2] == (1560, 1400) and image.std() > 10  # not a blank page
    target = os.environ.get("SDO_MONITOR_SCREENSHOT_DIR")
    if target:
        shutil.copy(shot, Path(target) / "status_page.png")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package "
                                             "'chromium'; `make test` installs it)")
@pytest.mark.parametrize("case", ["empty", "filled", "degraded", "token"])
def test_status_page_states_in_headless_chromium(tmp_path: Path, case: str) -> None:
    """An empty daemon, one with saliency regions and alerts (healthy, then with a stale
    feed and Kafka failing), and one behind a token."""
    import cv2
    import numpy as np
    from test_observe_http import StoreView, filled_view, serve

    view = StoreView() if case == "empty" else filled_view()
    if case in ("filled", "degraded"):
        view.ready, view.degraded = True, []
    if case == "degraded":
        view.degraded = ["feed aia is stale"]
        view.kafka_error = "KafkaConnectionError: 111 ECONNREFUSED"
        view.warnings = ["model sdo-cnn:1.0.0 was trained on synthetic data only"]
    _, png = cv2.imencode(".png", np.full((64, 64, 3), 128, np.uint8))
    view.pngs = {k: png.tobytes() for k in view.pngs}

    async def body(base: str, get: Any) -> None:
        run = await asyncio.to_thread(_chromium, f"{base}/", tmp_path / "profile", "--dump-dom")
        assert run.returncode == 0, run.stderr[-2000:]
        dom = _Dom()
        dom.feed(run.stdout)
        state = "unauthorized" if case == "token" else "ready"
        assert dom.find("body")[0]["data-state"] == state, run.stdout[:3000]
        # the token prompt shows exactly when the API asks for one
        assert ("hidden" in dom.find("div", id="token-dialog")[0]) == (case != "token")
        sparks = [a for t, a in dom.elements if t == "svg" and a.get("class") == "spark"]
        regions = [a for t, a in dom.elements if t == "tr" and a.get("class") == "region"]
        open_alerts = [a for t, a in dom.elements if t == "li" and a.get("data-alert")]
        if case in ("filled", "degraded"):  # the header's colour follows /readyz
            (badge,) = [a for t, a in dom.elements if t == "span" and a.get("data-health")]
            assert badge["data-health"] == ("ok" if case == "filled" else "warn")
            reasons = dom.find("span", **{"class": "degraded-reason"})
            assert len(reasons) == (case == "degraded")
            assert bool(dom.find("span", **{"class": "kafka-error"})) == (case == "degraded")
            assert ("ECONNREFUSED" in run.stdout) == (case == "degraded")
            # a warning (a synthetic-only model) shows beside, the daemon still ready
            warnings = [a for t, a in dom.elements
                        if t == "span" and "model-warning" in a.get("class", "")]
            assert len(warnings) == (case == "degraded")
            assert ("synthetic data only" in run.stdout) == (case == "degraded")
        if case == "empty":
            assert dom.find("li", **{"class": "none"}) and not sparks and not regions
        elif case in ("filled", "degraded"):
            assert len(sparks) == 14 and all(a["data-points"] == "7" for a in sparks)
            assert len(regions) == 1 and regions[0]["data-target"] == "M"
            assert regions[0]["data-located"] == "flare"  # the flare's place, not the CAM's
            assert len(open_alerts) == 1
            (overlay,) = dom.find("img", id="overlay")
            assert overlay.get("data-loaded") == "64"
        else:
            assert not sparks and not regions  # nothing leaks without the token

    serve(view, token="s3cret" if case == "token" else None, body=body)
