"""The HTTP API on a real loopback socket: probes, metrics, auth, id validation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from monitor.observe.http import Health, Readiness, build_app, start_http
from monitor.observe.metrics import Metrics

FRAME = "3f1d7c52-6c1e-4d8e-9a53-5d0b6f7a1c20"


@dataclass
class StaticView:
    """A daemon view with fixed answers (the HTTP layer is what is under test)."""

    registry: CollectorRegistry
    alive: bool = True
    ready: bool = False
    frames: dict[str, bytes] = field(default_factory=dict)

    def health(self) -> Health:
        return Health(self.alive, "heartbeat 1.0 s ago")

    def readiness(self) -> Readiness:
        return Readiness(self.ready, [] if self.ready else ["warming up"], ["fallback backend"])

    def status(self) -> dict[str, Any]:
        return {"feeds": {"aia": {"stale": False}}}

    def latest_frame(self) -> dict[str, Any] | None:
        return {"frame_id": FRAME} if self.frames else None

    def alerts(self) -> list[dict[str, Any]]:
        return [{"rule": "flare_m_class", "state": "firing"}]

    def saliency_png(self, frame_id: str) -> bytes | None:
        return self.frames.get(frame_id)


async def _serve(view: StaticView, token: str | None = None) -> tuple[Any, str]:
    runner = await start_http(build_app(view, token), "127.0.0.1", 0)
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


def test_probes_metrics_and_api() -> None:
    async def main() -> None:
        metrics = Metrics()
        metrics.ready.set(0)
        view = StaticView(metrics.registry, frames={FRAME: b"\x89PNG..."})
        runner, base = await _serve(view)
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/metrics") as r:
                    text = await r.text()
                    assert r.status == 200 and "sdo_monitor_build_info{" in text
                    assert "sdo_monitor_end_to_end_seconds_bucket" in text
                async with http.get(f"{base}/healthz") as r:
                    assert r.status == 200
                async with http.get(f"{base}/readyz") as r:
                    body = await r.json()
                    assert r.status == 503 and body["reasons"] == ["warming up"]
                view.ready = True
                async with http.get(f"{base}/readyz") as r:
                    assert r.status == 200
                view.alive = False
                async with http.get(f"{base}/healthz") as r:
                    assert r.status == 503
                async with http.get(f"{base}/api/v1/saliency/{FRAME}.png") as r:
                    assert r.status == 200 and r.content_type == "image/png"
                async with http.get(f"{base}/api/v1/saliency/..%2Fetc%2Fpasswd.png") as r:
                    assert r.status in (400, 404)
                async with http.get(f"{base}/api/v1/saliency/not-a-uuid.png") as r:
                    assert r.status == 400
                async with http.get(f"{base}/api/v1/frames/latest") as r:
                    assert (await r.json())["frame_id"] == FRAME
        finally:
            await runner.cleanup()

    asyncio.run(main())


@pytest.mark.parametrize("header,status", [(None, 401), ("Bearer wrong", 401),
                                           ("Bearer s3cret", 200)])
def test_bearer_token_guards_the_api_but_not_probes(header: str | None, status: int) -> None:
    async def main() -> None:
        runner, base = await _serve(StaticView(Metrics().registry), token="s3cret")
        try:
            headers = {"Authorization": header} if header else {}
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/api/v1/alerts", headers=headers) as r:
                    assert r.status == status
                async with http.get(f"{base}/metrics") as r:
                    assert r.status == 200
        finally:
            await runner.cleanup()

    asyncio.run(main())
