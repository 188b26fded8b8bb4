"""Secrets named in the config, read from the environment or a file, never from the YAML.

The Kafka SASL password and the HTTP bearer token are named by an
environment variable (``*_env``) or a file (``*_file``, e.g. a systemd
credential under ``$CREDENTIALS_DIRECTORY``).
"""

from __future__ import annotations

import os
from pathlib import Path

from monitor.typedyaml import ConfigError, ConfigIssue

__all__ = ["read_secret"]


def read_secret(env: str | None, file: Path | None, what: str) -> str | None:
    """Resolve a secret from the environment variable or file the config names.

    Returns None when neither is configured. A named but empty or unreadable
    source is a ConfigError: starting without the credential would only fail
    later and less clearly.
    """
    if env:
        value = os.environ.get(env)
        if not value:
            raise ConfigError([ConfigIssue(what, f"environment variable {env} is not set")])
        return value
    if file:
        try:
            value = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError([ConfigIssue(what, f"cannot read secret file: {exc}")]) from None
        if not value:
            raise ConfigError([ConfigIssue(what, f"secret file {file} is empty")])
        return value
    return None
