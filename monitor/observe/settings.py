"""Settings of the HTTP API (the ``http:`` section of the config). Stdlib only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["HttpSettings"]


@dataclass(frozen=True)
class HttpSettings:
    """The aiohttp API (metrics, health, status page)."""

    host: str = field(default="127.0.0.1", metadata={"doc": "bind address; loopback by default"})
    port: int = field(default=9464, metadata={"ge": 0, "le": 65535})
    token_env: str | None = field(
        default=None, metadata={"doc": "environment variable holding the bearer token"})
    token_file: Path | None = field(default=None, metadata={"doc": "file holding the token"})

    def check(self) -> list[tuple[str, str]]:
        if self.token_env and self.token_file:
            return [("token_file", "set token_env or token_file, not both")]
        return []
