"""A small HTTP load generator for the daemon's API (loopback, bounded in count and time).

It replays what the daemon's readers do at once -- Prometheus scraping
``/metrics``, systemd and load balancers probing, Grafana and the status page
polling the JSON API and fetching saliency overlays -- plus a share of hostile
requests (malformed ids, unknown parameters) that must be refused with a 4xx.
Used by the reliability suite (the API under load while the pipeline runs)
and by ``benchmarks/http_load.py`` (pipeline throughput with and without it).

    python -m monitor.observe.loadgen http://127.0.0.1:9464 --requests 5000 --concurrency 16

Every response status is checked against what the route may answer; a 5xx or
a connection error is a failure, whatever the route.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
from yarl import URL

__all__ = ["ROUTES", "LoadReport", "Route", "run_load"]


@dataclass(frozen=True)
class Route:
    """One kind of request: a path template, its weight and the statuses it may answer.

    ``{frame}`` in the path is replaced by the id of a frame the daemon has
    reported (``/api/v1/frames/latest``); routes needing one wait until there is one.
    """

    name: str
    path: str
    weight: int
    allowed: frozenset[int]


def _ok(*codes: int) -> frozenset[int]:
    return frozenset(codes)


#: The mix: weights are relative request counts (readers poll, Prometheus scrapes).
ROUTES: tuple[Route, ...] = (
    Route("metrics", "/metrics", 10, _ok(200)),
    Route("healthz", "/healthz", 8, _ok(200)),
    Route("readyz", "/readyz", 8, _ok(200)),
    Route("status", "/api/v1/status", 10, _ok(200)),
    Route("frames", "/api/v1/frames?limit=50", 8, _ok(200)),
    Route("latest", "/api/v1/frames/latest", 8, _ok(200, 404)),
    Route("frame", "/api/v1/frames/{frame}", 8, _ok(200, 404)),
    Route("alerts", "/api/v1/alerts?limit=100", 6, _ok(200)),
    Route("channels", "/api/v1/channels", 6, _ok(200)),
    Route("history", "/api/v1/history?hours=6&points=500", 6, _ok(200)),
    Route("overlay_latest", "/api/v1/saliency/latest.png", 4, _ok(200, 404)),
    Route("overlay", "/api/v1/saliency/{frame}.png", 4, _ok(200, 404)),
    Route("page", "/", 2, _ok(200)),
    # hostile: each must be refused by validation, never reach a handler's internals
    Route("bad_id", "/api/v1/frames/..%2F..%2Fetc%2Fpasswd", 2, _ok(400, 404)),
    Route("bad_param", "/api/v1/frames?limit=1e9&evil=1", 2, _ok(400)),
    Route("bad_number", "/api/v1/history?hours=%D9%A1", 2, _ok(400)),
)


@dataclass
class LoadReport:
    """What a load run saw; ``failures`` must be 0 for a pass."""

    requests: int = 0
    wall_s: float = 0.0
    by_status: dict[str, int] = field(default_factory=dict)
    by_route: dict[str, int] = field(default_factory=dict)
    server_errors: int = 0
    unexpected: list[str] = field(default_factory=list)  # "route status" (first 20)
    connection_errors: list[str] = field(default_factory=list)  # first 20
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p95, p99, max

    @property
    def failures(self) -> int:
        """5xx answers, statuses a route must not give, and connection errors."""
        return self.server_errors + len(self.unexpected) + len(self.connection_errors)

    @property
    def rate(self) -> float:
        """Requests per second over the run."""
        return self.requests / self.wall_s if self.wall_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failures": self.failures, "rate_per_s": round(self.rate, 1)}


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)
    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": at(1.0)}


async def run_load(base_url: str, *, requests: int = 2000, concurrency: int = 16,
                   duration_s: float = 60.0, rate_per_s: float | None = None,
                   until: Callable[[], bool] | None = None, token: str | None = None,
                   seed: int = 0, routes: tuple[Route, ...] = ROUTES) -> LoadReport:
    """Send up to ``requests`` requests with ``concurrency`` clients for at most ``duration_s``.

    Parameters
    ----------
    base_url : str
        The daemon's HTTP address, e.g. ``http://127.0.0.1:9464``.
    requests, concurrency, duration_s : int, int, float
        Bounds of the run: it stops at whichever of count or time comes first.
    rate_per_s : float, optional
        Pace the requests (a steady reader population); None sends as fast as the
        clients get answers.
    until : callable, optional
        Stop early once this returns True (e.g. when the pipeline run being loaded ends).
    token : str, optional
        Bearer token for ``/api/*`` when the daemon requires one.
    seed : int
        Seed of the route draw (runs are repeatable in their mix).
    """
    rng = random.Random(seed)
    weights = [r.weight for r in routes]
    report = LoadReport()
    latencies: list[float] = []
    frame_ids: list[str] = []
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.monotonic()
    deadline = started + duration_s
    issued = 0

    def next_route() -> tuple[Route, float] | None:
        nonlocal issued
        if issued >= requests or time.monotonic() >= deadline or (until and until()):
            return None
        due = started + issued / rate_per_s if rate_per_s else 0.0
        issued += 1
        route = rng.choices(routes, weights)[0]
        if "{frame}" in route.path and not frame_ids:
            route = routes[0]  # no frame known yet: scrape instead
        return route, due

    async def client(session: aiohttp.ClientSession) -> None:
        while (drawn := next_route()) is not None:
            route, due = drawn
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            path = route.path.replace("{frame}", rng.choice(frame_ids) if frame_ids else "")
            t0 = time.perf_counter()
            try:
                # encoded=True: hostile paths must reach the server exactly as written
                async with session.get(URL(base_url + path, encoded=True),
                                       headers=headers) as resp:
                    body = await resp.read()
                    status = resp.status
            except (TimeoutError, aiohttp.ClientError) as exc:
                if len(report.connection_errors) < 20:
                    report.connection_errors.append(f"{route.name}: {exc!r}")
                continue
            latencies.append(time.perf_counter() - t0)
            report.requests += 1
            report.by_status[str(status)] = report.by_status.get(str(status), 0) + 1
            report.by_route[route.name] = report.by_route.get(route.name, 0) + 1
            if status >= 500:
                report.server_errors += 1
            if status not in route.allowed and len(report.unexpected) < 20:
                report.unexpected.append(f"{route.name} {status}")
            if route.name == "latest" and status == 200:
                frame_id = json.loads(body).get("frame_id")
                if isinstance(frame_id, str) and frame_id not in frame_ids:
                    frame_ids.append(frame_id)
                    del frame_ids[:-50]

    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    report.wall_s = time.monotonic() - started
    report.latency_ms = _percentiles(latencies)
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m monitor.observe.loadgen URL``: print the report as JSON; exit 1 on failures."""
    parser = argparse.ArgumentParser(prog="python -m monitor.observe.loadgen",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the daemon's HTTP address, e.g. http://127.0.0.1:9464")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds at most")
    parser.add_argument("--rate", type=float, default=None, help="requests per second (paced)")
    parser.add_argument("--token-env", default=None,
                        help="environment variable holding the API's bearer token")
    args = parser.parse_args(argv)
    report = asyncio.run(run_load(args.url.rstrip("/"), requests=args.requests,
                                  concurrency=args.concurrency, duration_s=args.duration,
                                  rate_per_s=args.rate,
                                  token=os.environ.get(args.token_env) if args.token_env else None))
    print(json.dumps(report.as_dict(), indent=1))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
