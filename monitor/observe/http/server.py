"""The aiohttp application over a daemon view, and the socket it listens on."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry

from monitor.credentials import read_secret
from monitor.logs import get_logger
from monitor.observe import status_page
from monitor.observe.http.api import add_routes as add_api_routes
from monitor.observe.http.contract import METRICS, TOKEN, VIEW, DaemonView
from monitor.observe.http.guard import guard
from monitor.observe.http.probes import add_routes as add_probe_routes
from monitor.observe.settings import HttpSettings

__all__ = ["build_app", "serve_http", "start_http"]

log = get_logger(__name__)


def build_app(view: DaemonView, registry: CollectorRegistry,
              token: str | None = None) -> web.Application:
    """The aiohttp application over a daemon view.

    Parameters
    ----------
    view : DaemonView
        What the API reads (the daemon's :class:`~monitor.pipeline.view.DaemonStatusView`).
    registry : CollectorRegistry
        What ``/metrics`` serves.
    token : str, optional
        Bearer token required on ``/api/*``; None or empty leaves the API open.
    """
    app = web.Application(middlewares=[guard], client_max_size=64 * 1024)
    app[VIEW] = view
    app[METRICS] = registry
    app[TOKEN] = token or None
    status_page.add_routes(app)
    add_probe_routes(app)
    add_api_routes(app)
    return app


async def start_http(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving; returns the runner (``await runner.cleanup()`` stops it).

    With ``port=0`` the kernel picks a free port; read it from
    ``runner.addresses``.
    """
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    return runner


@contextlib.asynccontextmanager
async def serve_http(view: DaemonView, registry: CollectorRegistry,
                     settings: HttpSettings) -> AsyncIterator[tuple[str, int]]:
    """Serve the API over ``view`` as ``settings`` say until the block ends.

    The bearer token is read from the environment or file the settings name
    (a named but missing one refuses the start). Yields the bound address
    ``(host, port)``, the kernel's choice where the port is 0.
    """
    token = read_secret(settings.token_env, settings.token_file, "http.token_env")
    runner = await start_http(build_app(view, registry, token), settings.host, settings.port)
    try:
        host, port = runner.addresses[0][:2]
        log.info("http listening", address=f"{host}:{port}")
        yield host, port
    finally:
        await runner.cleanup()
