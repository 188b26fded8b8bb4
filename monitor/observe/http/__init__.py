"""The daemon's HTTP API (aiohttp): metrics, probes, the JSON API and the status page.

Routes (all ``GET``/``HEAD``; documented in ``monitor/observe/openapi.json``,
which a test keeps equal to the routes registered here):

* ``/metrics`` -- Prometheus exposition of the daemon's registry;
* ``/healthz`` -- liveness: the event loop answers and the pipeline heartbeat
  is recent; 503 otherwise;
* ``/readyz`` -- readiness: warm-up done and nothing blocking, with the
  reasons when not (degraded states such as a TensorRT engine still building
  are reported but do not make the daemon unready);
* ``/`` and ``/static/*`` -- the status page (:mod:`monitor.observe.status_page`);
* ``/api/v1/...`` -- the JSON API (:mod:`.api`).

One module per job: :mod:`.contract` is what the routes may read from the
daemon (the :class:`DaemonView` protocol and its plain results), :mod:`.guard`
the middleware every request passes (host check, token, JSON errors, security
headers), :mod:`.params` strict parsing of query parameters and ids,
:mod:`.probes` metrics and the probes, :mod:`.api` the JSON routes and
:mod:`.server` the application and its socket. Adding an API route is a
handler and a line in :mod:`.api` (and its entry in ``openapi.json``).

Security model: the server binds to 127.0.0.1 unless configured otherwise.
``/api/*`` (except the OpenAPI document) requires ``Authorization: Bearer
<token>`` when a token is configured, compared in constant time; metrics,
probes and the page's static files stay open so Prometheus and systemd need
no secret (the page asks for the token and keeps it in the tab's session
storage). Nothing user-supplied ever becomes a path: frame ids must be
lowercase UUIDs and are only dictionary keys; query parameters are
whitelisted per route and parsed strictly (ASCII digits, bounded). Every error
is a JSON body ``{"error": {"status", "code", "message"}}``. On a loopback
socket the ``Host`` header must name a loopback host, which stops DNS
rebinding from turning a web page into a reader of an unauthenticated API.
"""

from __future__ import annotations

from monitor.observe.http.api import openapi_document
from monitor.observe.http.contract import METRICS, TOKEN, VIEW, DaemonView, Health, Page, Readiness
from monitor.observe.http.server import build_app, serve_http, start_http

__all__ = [
    "METRICS",
    "TOKEN",
    "VIEW",
    "DaemonView",
    "Health",
    "Page",
    "Readiness",
    "build_app",
    "openapi_document",
    "serve_http",
    "start_http",
]
