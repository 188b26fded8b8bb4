"""Watching the daemon: Prometheus metrics (defined in one module) and the HTTP API."""

__all__: list[str] = []
