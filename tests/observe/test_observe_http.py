"""The HTTP API on a real loopback socket: probes, auth, hostile input, pagination, errors.

The view is a fixed one over the real :class:`RecentFrames` store filled with
schema-valid payloads: the HTTP layer is what is under test here; the same
routes against a running daemon are in ``test_observe_live.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from observe_samples import MODEL, alert_payload, frame_entry, frame_id

from monitor.goes.scores import Contingency, SkillRow
from monitor.models.numbers import CardNumbers, CardTarget
from monitor.observe.http import Health, Page, Readiness, build_app, start_http
from monitor.observe.metrics import Metrics
from monitor.pipeline.roster import PackageEntry
from monitor.pipeline.view import RecentFrames

PNG = b"\x89PNG\r\n\x1a\n-fake-but-opaque-bytes"
N_FRAMES = 7


@dataclass
class StoreView:
    """A daemon view with fixed status over a real RecentFrames store."""

    recent: RecentFrames = field(default_factory=RecentFrames)
    alive: bool = True
    ready: bool = False
    pngs: dict[str, bytes] = field(default_factory=dict)
    degraded: list[str] = field(default_factory=lambda: ["fallback backend"])
    kafka_error: str | None = None
    warnings: list[str] = field(default_factory=list)

    def health(self) -> Health:
        return Health(self.alive, "heartbeat 1.0 s ago")

    def readiness(self) -> Readiness:
        return Readiness(self.ready, [] if self.ready else ["warming up"], list(self.degraded),
                         list(self.warnings))

    def status(self) -> dict[str, Any]:
        t_obs = self.recent.latest().t_obs if len(self.recent) else None
        return {
            "version": "0.0.0", "instance": "urn:sdo-monitor:test", "mode": "live",
            "time": 1.7e9, "uptime_s": 12.5, "ready": self.ready, "degraded": self.degraded,
            "counts": {"frames": len(self.recent)},
            "feeds": {"aia": {"kind": "spool", "stale": False, "seen": 7, "last_seen": 1.7e9,
                              "last_seen_age_s": 3.0, "last_observation": t_obs,
                              "last_observation_age_s": None}},
            "backend": {"active": "onnxruntime", "target": "onnxruntime", "precision": "fp32",
                        "degraded": False, "engine_build": "not_needed", "detail": ""},
            "model": MODEL.to_dict(), "warnings": list(self.warnings),
            "publisher": {"connected": self.kafka_error is None, "pending": 0,
                          "oldest_age_s": 0.0, "last_error": self.kafka_error},
            "queues": {"arrivals": 0}, "alerts_active": [],
            "recent": {"frames": len(self.recent)},
            "odd": float("nan"),  # must reach the client as null
        }

    def _detail(self, record: Any) -> dict[str, Any] | None:
        if record is None:
            return None
        return {**record.frame, "seq": record.seq, "feed": record.feed,
                "saliency": record.saliency,
                "overlay_url": f"/api/v1/saliency/{record.frame_id}.png"
                if record.frame_id in self.pngs else None}

    def latest_frame(self) -> dict[str, Any] | None:
        return self._detail(self.recent.latest())

    def frame(self, frame_id: str) -> dict[str, Any] | None:
        return self._detail(self.recent.get(frame_id))

    def frames(self, limit: int, before: int | None) -> Page:
        records, nxt = self.recent.frames(limit, before)
        return Page([r.summary() for r in records], nxt)

    def alerts(self, limit: int, before: int | None) -> Page:
        return Page(*self.recent.alerts(limit, before))

    def open_alerts(self) -> list[dict[str, Any]]:
        return self.recent.open_alerts()

    def channels(self) -> list[dict[str, Any]]:
        return self.recent.channels()

    def history(self, window_s: float, points: int) -> dict[str, Any]:
        return self.recent.history(window_s, points)

    def models(self) -> dict[str, Any]:
        card = CardNumbers("evaluated", (CardTarget("TSS >= M", 0.94, ">= 0.9", True),),
                           {"M": 0.94}, {"M": 0.93})
        live = (SkillRow("M", "24h", Contingency(3, 1, 2, 40), MODEL.label),)
        return {"packages": [PackageEntry("serving", MODEL, card, live).to_dict()],
                "refused": [{"path": "/opt/pkg/broken", "reason": "hash mismatch"}]}

    async def saliency_png(self, frame_id: str) -> bytes | None:
        return self.pngs.get(frame_id)


def filled_view() -> StoreView:
    view = StoreView()
    for i in range(N_FRAMES):
        view.recent.add_frame(frame_entry(i, saliency=i % 3 != 2))
        view.pngs[frame_id(i)] = PNG
    view.recent.add_alert(alert_payload(1, "firing"))
    view.recent.add_alert(alert_payload(2, "firing", rule="flare_x_class"))
    view.recent.add_alert(alert_payload(2, "resolved", rule="flare_x_class"))
    return view


Client = Callable[..., Awaitable[tuple[int, dict[str, str], bytes]]]


def serve(view: Any, token: str | None = None,
          body: Callable[[str, Client], Awaitable[None]] | None = None) -> None:
    """Run ``body(base_url, get)`` against a live server on 127.0.0.1."""
    async def main() -> None:
        runner = await start_http(build_app(view, Metrics().registry, token), "127.0.0.1", 0)
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                async def get(path: str, method: str = "GET", **kw: Any) -> tuple[int, Any, bytes]:
                    async with http.request(method, base + path, **kw) as r:
                        return r.status, r.headers, await r.read()
                assert body is not None
                await body(base, get)
        finally:
            await runner.cleanup()

    asyncio.run(main())


def error_of(status: int, raw: bytes) -> dict[str, Any]:
    """The JSON error body every failure must carry."""
    doc = json.loads(raw)
    assert set(doc) == {"error"} and doc["error"]["status"] == status, doc
    assert doc["error"]["code"] and doc["error"]["message"]
    return doc["error"]


def test_probes_metrics_and_api() -> None:
    view = filled_view()

    async def body(base: str, get: Client) -> None:
        status, headers, raw = await get("/metrics")
        text = raw.decode()
        assert status == 200 and "sdo_monitor_build_info{" in text
        assert "sdo_monitor_end_to_end_seconds_bucket" in text
        status, _, raw = await get("/healthz")
        assert status == 200
        status, _, raw = await get("/readyz")
        assert status == 503 and json.loads(raw)["reasons"] == ["warming up"]
        view.ready = True
        assert (await get("/readyz"))[0] == 200
        view.alive = False
        assert (await get("/healthz"))[0] == 503
        latest = frame_id(N_FRAMES - 1)
        status, headers, raw = await get(f"/api/v1/saliency/{latest}.png")
        assert status == 200 and headers["Content-Type"] == "image/png" and raw == PNG
        status, headers, raw = await get("/api/v1/saliency/latest.png?t=1700000000000")
        assert status == 200 and raw == PNG and headers["Cache-Control"] == "no-store"
        status, _, raw = await get("/api/v1/frames/latest")
        doc = json.loads(raw)
        assert status == 200 and doc["frame_id"] == latest and doc["seq"] == N_FRAMES
        assert doc["saliency"]["targets"][0]["regions"][0]["noaa_location"] == "N15E19"
        status, _, raw = await get(f"/api/v1/frames/{frame_id(2)}")
        doc = json.loads(raw)
        assert status == 200 and doc["frame_id"] == frame_id(2) and doc["saliency"] is None
        status, headers, raw = await get("/api/v1/status")
        # NaN is not JSON: it must come out as null, not as a bare NaN token
        assert status == 200 and json.loads(raw)["odd"] is None and b"NaN" not in raw
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        status, _, raw = await get("/api/v1/channels")
        channels = json.loads(raw)["channels"]
        assert [c["channel"] for c in channels] == [94, 131, 171, 193, 211, 304, 335]
        assert all(c["frame_id"] == latest and "/" not in c["file"] for c in channels)
        status, _, raw = await get("/api/v1/history?hours=1&points=10")
        series = json.loads(raw)["feeds"]["aia"]
        assert status == 200 and len(series["t"]) == N_FRAMES
        assert len(series["irradiance_w_m2"]) == 14

    serve(view, body=body)


def test_empty_daemon_answers_404_not_500() -> None:
    async def body(base: str, get: Client) -> None:
        status, _, raw = await get("/api/v1/frames/latest")
        assert status == 404 and error_of(404, raw)["code"] == "not_found"
        status, _, raw = await get("/api/v1/saliency/latest.png")
        assert status == 404 and error_of(404, raw)
        status, _, raw = await get("/api/v1/frames")
        assert status == 200 and json.loads(raw) == {"frames": [], "next": None}
        status, _, raw = await get("/api/v1/history")
        assert status == 200 and json.loads(raw)["feeds"] == {}

    serve(StoreView(), body=body)


def test_pagination_walks_every_frame_once_newest_first() -> None:
    view = filled_view()

    async def body(base: str, get: Client) -> None:
        seen: list[int] = []
        cursor = ""
        pages = 0
        while True:
            status, _, raw = await get(f"/api/v1/frames?limit=3{cursor}")
            assert status == 200
            doc = json.loads(raw)
            seen += [f["seq"] for f in doc["frames"]]
            pages += 1
            if doc["next"] is None:
                break
            cursor = f"&before={doc['next']}"
            # a frame arriving between pages must not shift or repeat the next page
            if pages == 1:
                view.recent.add_frame(frame_entry(100))
        assert seen == list(range(N_FRAMES, 0, -1)) and pages == 3
        status, _, raw = await get("/api/v1/alerts?limit=2")
        doc = json.loads(raw)
        assert [a["state"] for a in doc["alerts"]] == ["resolved", "firing"]
        assert [a["rule"] for a in doc["open"]] == ["flare_m_class"]
        status, _, raw = await get(f"/api/v1/alerts?limit=2&before={doc['next']}")
        doc2 = json.loads(raw)
        assert [a["rule"] for a in doc2["alerts"]] == ["flare_m_class"] and doc2["next"] is None

    serve(view, body=body)


HOSTILE_IDS = [
    "..%2F..%2Fetc%2Fpasswd",                       # traversal, encoded
    "..",                                           # traversal
    "%2e%2e",                                       # traversal, encoded dots
    "3F1D7C52-6C1E-4D8E-9A53-5D0B6F7A1C20",         # wrong case
    "3f1d7c52-6c1e-4d8e-9a53-5d0b6f7a1c20%0A",      # trailing newline ($ would accept it)
    "3f1d7c52-6c1e-4d8e-9a53-5d0b6f7a1c20%00",      # NUL
    "3f1d7c52-6c1e-4d8e-9a53-5d0b6f7a1c2",          # one short
    "3f1d7c52-6c1e-4d8e-9a53-5d0b6f7a1c20" * 40,    # overlong
    "%EF%BC%93f1d7c52-6c1e-4d8e-9a53-5d0b6f7a1c20", # fullwidth digit
    "%D9%A3f1d7c52-6c1e-4d8e-9a53-5d0b6f7a1c20",    # Arabic-Indic digit
    "3f1d7c52_6c1e_4d8e_9a53_5d0b6f7a1c20",
    "{frame_id}",
    "%25",
]


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_hostile_frame_ids_are_rejected_with_json(bad: str) -> None:
    async def body(base: str, get: Client) -> None:
        for path in (f"/api/v1/frames/{bad}", f"/api/v1/saliency/{bad}.png"):
            status, headers, raw = await get(path)
            assert status in (400, 404), (path, status)
            assert headers["Content-Type"].startswith("application/json")
            error_of(status, raw)

    serve(filled_view(), body=body)


@pytest.mark.parametrize("query", [
    "limit=0", "limit=101", "limit=-1", "limit=1e3", "limit=%D9%A3", "limit=%C2%B2",
    "limit=", "limit=3&limit=4", "before=0", "before=99999999999999999999", "page=2",
    "limit=3%0A", "LIMIT=3",
])
def test_bad_query_parameters_are_400(query: str) -> None:
    async def body(base: str, get: Client) -> None:
        status, _, raw = await get(f"/api/v1/frames?{query}")
        assert status == 400 and error_of(400, raw)["code"] == "bad_request"

    serve(filled_view(), body=body)


@pytest.mark.parametrize("path", ["/api/v1/history?hours=0", "/api/v1/history?hours=25",
                                  "/api/v1/history?hours=nan", "/api/v1/history?points=5",
                                  "/api/v1/status?verbose=1", "/api/v1/alerts?limit=201",
                                  "/api/v1/saliency/latest.png?t=..%2F", "/?x=1"])
def test_other_routes_validate_their_parameters(path: str) -> None:
    async def body(base: str, get: Client) -> None:
        status, _, raw = await get(path)
        assert status == 400 and error_of(400, raw)

    serve(filled_view(), body=body)


def test_unknown_routes_and_methods_answer_json() -> None:
    async def body(base: str, get: Client) -> None:
        status, _, raw = await get("/api/v1/nope")
        assert status == 404 and error_of(404, raw)
        status, headers, raw = await get("/api/v1/status", method="POST", data=b"{}")
        assert status == 405 and error_of(405, raw) and "GET" in headers["Allow"]
        status, _, raw = await get("/api/v1/status", method="DELETE")
        assert status == 405

    serve(filled_view(), body=body)


def test_dns_rebinding_host_is_refused_on_loopback() -> None:
    async def body(base: str, get: Client) -> None:
        port = base.rsplit(":", 1)[1]
        for host, expected in [("evil.example", 403), (f"evil.example:{port}", 403),
                               (f"localhost:{port}", 200), (f"127.0.0.1:{port}", 200),
                               (f"[::1]:{port}", 200), ("127.0.0.1.evil.example", 403)]:
            status, _, raw = await get("/api/v1/status", headers={"Host": host})
            assert status == expected, host
            if expected == 403:
                assert error_of(403, raw)["code"] == "host_not_allowed"

    serve(filled_view(), body=body)


@pytest.mark.parametrize("header,status", [
    (None, 401), ("Bearer wrong", 401), ("Bearer s3cret-but-longer", 401), ("Bearer s3cre", 401),
    ("Basic czNjcmV0", 401), ("s3cret", 401), ("Bearer", 401), ("Bearer  ", 401),
    ("Bearer s3crét", 401), ("Bearer s3cret", 200), ("bearer s3cret", 200),
])
def test_bearer_token_guards_the_api_but_not_probes(header: str | None, status: int) -> None:
    async def body(base: str, get: Client) -> None:
        headers = {"Authorization": header} if header else {}
        for path in ("/api/v1/alerts", "/api/v1/status", f"/api/v1/frames/{frame_id(1)}",
                     "/api/v1/saliency/latest.png"):
            got, response_headers, raw = await get(path, headers=headers)
            assert got == status, path
            if status == 401:
                assert error_of(401, raw)["code"] == "unauthorized"
                assert response_headers["WWW-Authenticate"].startswith("Bearer")
        # metrics, probes, the page and the API description need no token
        for path in ("/metrics", "/healthz", "/", "/static/app.js", "/api/v1/openapi.json"):
            assert (await get(path))[0] in (200, 503), path

    view = filled_view()
    view.ready = True
    serve(view, token="s3cret", body=body)


def test_status_page_files_are_served_with_their_types() -> None:
    async def body(base: str, get: Client) -> None:
        for path, ctype in [("/", "text/html"), ("/static/app.js", "text/javascript"),
                            ("/static/style.css", "text/css")]:
            status, headers, raw = await get(path)
            assert status == 200 and headers["Content-Type"].startswith(ctype)
            assert headers["X-Frame-Options"] == "DENY"
        status, _, raw = await get("/")
        html = raw.decode()
        assert 'src="/static/app.js"' in html and "<script>" not in html  # CSP: no inline
        assert (await get("/static/../monitor/observe/http/api.py"))[0] == 404
        assert (await get("/static/app.js.map"))[0] == 404

    serve(filled_view(), body=body)
