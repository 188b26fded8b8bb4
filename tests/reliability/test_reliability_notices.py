"""Hostile notifications through the running daemon: every one is rejected with a reason on
``<prefix>.rejects``, the Kafka feed stays alive, and valid notices after them are analysed.

The daemon runs as systemd would run it (``sdo-monitor run``, its own process); the files
behind ``url`` notices come from a real HTTP server on loopback, and a second server stands
for "another host": it must never be asked for anything.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from astropy.io import fits
from kafka import KafkaProducer
from support import (
    delivery_report,
    frames_in_time_order,
    kill,
    ledger_frame_ids,
    read_topic,
    record_outcome,
    spawn,
    wait_for,
    wait_ready,
    write_config,
)

from monitor.config import KafkaSettings
from monitor.publish.kafka_client import client_options, ensure_topics
from monitor.sources import make_notification


class _Files(BaseHTTPRequestHandler):
    """Serves ``root`` under ``/aia/``; ``/aia/redirect-*`` answer 302 to ``redirects``."""

    root: Path
    redirects: dict[str, str]
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        if self.path in self.redirects:
            self.send_response(302)
            self.send_header("Location", self.redirects[self.path])
            self.end_headers()
            return
        name = self.path.removeprefix("/aia/")
        target = self.root / name
        if "/" in name or not target.is_file():
            self.send_error(404)
            return
        body = target.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _server(root: Path, redirects: dict[str, str] | None = None
            ) -> Iterator[tuple[int, list[str]]]:
    requests: list[str] = []
    handler = type("Handler", (_Files,), {"root": root, "redirects": redirects or {},
                                          "requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], requests
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _valid(files: list[Path], url_base: str | None = None) -> list[tuple[bytes | None, bytes]]:
    out = []
    for path in files:
        header = fits.getheader(path, 1)
        target = {"url": f"{url_base}{path.name}"} if url_base else {"path": str(path)}
        out.append(make_notification(**target, t_obs=str(header["T_OBS"]),  # type: ignore[arg-type]
                                     wavelength=int(header["WAVELNTH"]), cadence_s=60))
    return out


def test_hostile_notifications_are_rejected_and_the_feed_lives(
        tmp_path: Path, kafka_bootstrap: str, untrained_package: Path,
        m_flare_files: Path) -> None:
    prefix = "rel.notices"
    topic = f"{prefix}.notifications"
    ensure_topics(client_options(KafkaSettings(), [kafka_bootstrap]), [topic], 1, 1)
    frames = frames_in_time_order(m_flare_files)
    served = tmp_path / "served"
    served.mkdir()
    for path in frames[7:14]:  # the second frame is fetched over HTTP
        (served / path.name).write_bytes(path.read_bytes())
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "x.fits").write_bytes(frames[0].read_bytes())
    http_port = _free_port()

    with _server(served) as (other_port, other_requests):
        other = f"http://127.0.0.1:{other_port}"
        redirects = {"/aia/redirect-port.fits": f"{other}/aia/x.fits",
                     "/aia/redirect-host.fits": f"http://localhost:{other_port}/aia/x.fits",
                     "/aia/redirect-scheme.fits": "file:///etc/passwd"}
        with _server(served, redirects) as (port, requests):
            base = f"http://127.0.0.1:{port}/aia/"
            # (notification value, reason expected on .rejects)
            root = m_flare_files
            hostile: list[tuple[bytes | None, str]] = [
                (json.dumps({"path": f"{root}/x\u0000.fits"}).encode(), "bad_field"),
                (json.dumps({"path": "/" + "a" * 900_00}).encode(), "oversize"),
                (json.dumps({"path": "/" + "a" * 5000}).encode(), "bad_field"),
                (b'{"path": "' + str(root).encode() + b'/\xff\xfe.fits"}', "not_json"),
                (json.dumps({"path": "/etc/passwd"}).encode(), "path_not_allowed"),
                (json.dumps({"path": f"{root}/../secret/x.fits"}).encode(), "path_not_allowed"),
                (json.dumps({"path": "relative/x.fits"}).encode(), "path_not_allowed"),
                (json.dumps({"path": f"{root}/missing.fits"}).encode(), "missing_file"),
                (b"[1, 2]", "not_object"),
                (json.dumps({"path": "/a", "url": base + "a"}).encode(), "no_target"),
                (None, "not_json"),
                (json.dumps({"url": f"http://127.0.0.1:{port}@127.0.0.1:{other_port}"
                                    "/aia/evil.fits"}).encode(), "url_userinfo"),
                (json.dumps({"url": f"{base}../../secret/x.fits"}).encode(), "url_not_allowed"),
                (json.dumps({"url": f"{base}%2e%2e/%2e%2e/secret/y.fits"}).encode(),
                 "url_not_allowed"),
                (json.dumps({"url": f"{base}%252e%252e/%252e%252e/secret/y.fits"}).encode(),
                 "url_ambiguous"),
                (json.dumps({"url": f"{other}/aia/x.fits"}).encode(), "url_not_allowed"),
                (json.dumps({"url": "file:///etc/passwd"}).encode(), "url_scheme"),
                (json.dumps({"url": f"ftp://127.0.0.1:{port}/aia/x.fits"}).encode(),
                 "url_scheme"),
                (json.dumps({"url": f"http://[::1]:{port}/aia/x.fits"}).encode(),
                 "url_not_allowed"),
                (json.dumps({"url": f"http://[::ffff:127.0.0.1]:{port}/aia/x.fits"}).encode(),
                 "url_not_allowed"),
                (json.dumps({"url": f"{base}redirect-port.fits"}).encode(),
                 "redirect_not_allowed"),
                (json.dumps({"url": f"{base}redirect-host.fits"}).encode(),
                 "redirect_not_allowed"),
                (json.dumps({"url": f"{base}redirect-scheme.fits"}).encode(),
                 "redirect_not_allowed"),
                (json.dumps({"url": f"{base}x\u0000.fits"}).encode(), "bad_field"),
                (json.dumps({"url": base + "a" * 5000}).encode(), "bad_field"),
                (json.dumps({"url": f"{base}nothing-here.fits"}).encode(), "not_found"),
                (json.dumps({"url": base}).encode(), "unsafe_name"),
            ]
            state = tmp_path / "state"
            feeds = (f"feeds:\n  - {{kind: kafka, name: notes, topic: {topic}, "
                     f"group_id: {prefix}, cadence_s: 60, path_roots: [{root}], "
                     f"url_prefixes: ['{base}'], spool: {tmp_path / 'downloads'}, "
                     "session_timeout_s: 6, heartbeat_interval_s: 1, max_poll_interval_s: 5, "
                     "download: {retries: 0}}")
            config = write_config(tmp_path / "config.yaml", state=state,
                                  bootstrap=kafka_bootstrap, prefix=prefix,
                                  package=untrained_package, feeds=feeds, http_port=http_port)
            log = tmp_path / "daemon.log"
            proc = spawn("run", "-c", str(config), log=log)
            try:
                wait_ready(proc, log)
                producer = KafkaProducer(bootstrap_servers=[kafka_bootstrap], acks="all",
                                         max_request_size=2 * 1024 * 1024)
                for value, _ in hostile:  # a tombstone (None) needs a key
                    producer.send(topic, key=b"k", value=value)
                producer.flush()
                # then the valid ones: one frame by path, one by URL
                for key, value in _valid(frames[:7]) + _valid(frames[7:14], base):
                    producer.send(topic, key=key, value=value)
                producer.flush()
                producer.close()
                out = read_frames_until(kafka_bootstrap, f"{prefix}.frames", 2)
                rejects = read_topic(kafka_bootstrap, f"{prefix}.rejects", len(hostile), 90)
                status, ready = _get(http_port, "/readyz")
                _, metrics = _get(http_port, "/metrics")
            finally:
                kill(proc, 15)
            text = log.read_text(errors="replace")

    got = Counter(e["data"]["reason"] for e in rejects)
    want = Counter(reason for _, reason in hostile)
    ids = ledger_frame_ids(state)
    record_outcome("hostile notifications", f"{len(hostile)} hostile notices (path and url: NUL, "
                   "overlong, non-UTF-8, userinfo, dot segments plain/encoded/double-encoded, "
                   "other ports/schemes/hosts, IPv6, redirects out) before 2 valid frames",
                   delivery_report(out, ids))
    assert got == want, (got, want)
    assert all(e["data"]["feed"] == "notes" and e["data"]["detail"] for e in rejects)
    assert all(len(e["data"]["path"]) <= 1100 and "\x00" not in e["data"]["path"]
               for e in rejects)
    assert len({e["data"]["frame_id"] for e in out}) == 2  # valid notices after them analysed
    assert other_requests == []  # the "other host" was never asked for anything
    assert not any("secret" in r or ".." in r for r in requests)
    assert status == 200 and "source failed" not in ready, ready
    assert 'sdo_monitor_source_up{feed="notes"} 1.0' in metrics
    assert 'sdo_monitor_rejections_total{feed="notes",reason="url_userinfo"} 1.0' in metrics
    # counters exist at 0 from the start, so rate()/increase() see their first event
    for series in ('sdo_monitor_alerts_total{rule="flare_m_class",state="firing"} 0.0',
                   f'sdo_monitor_published_total{{topic="{prefix}.alerts"}} 0.0',
                   'sdo_monitor_drops_total{reason="overload",stage="frames"} 0.0',
                   'sdo_monitor_publish_errors_total{kind="connect"} 0.0',
                   'sdo_monitor_rejections_total{feed="notes",reason="truncated"} 0.0',
                   'sdo_monitor_source_restarts_total{feed="notes"} 0.0'):
        assert series in metrics, series
    assert "Traceback" not in text
    assert max(len(line) for line in text.splitlines()) < 8000  # every logged field bounded


def read_frames_until(bootstrap: str, topic: str, n: int) -> list[dict]:
    found: list[dict] = []

    def enough() -> bool:
        try:
            found[:] = read_topic(bootstrap, topic, 10**9, 5)
        except ValueError:  # no partitions assigned: topic metadata not there yet
            return False
        return len({e["data"]["frame_id"] for e in found}) >= n
    wait_for(enough, 180, 1.0, f"{n} frames on {topic}")
    return found
