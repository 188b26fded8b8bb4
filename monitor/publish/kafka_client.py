"""kafka-python keyword arguments from :class:`~monitor.publish.settings.KafkaSettings`.

One place turns the config into client options so the producer, the
notification consumer, the admin client and the demo's console consumer all
connect the same way (security settings included).
"""

from __future__ import annotations

from typing import Any

from monitor.credentials import read_secret
from monitor.publish.settings import KafkaSettings

__all__ = ["TOPIC_SUFFIXES", "client_options", "ensure_topics", "existing_topics", "topic_names"]

#: Topic suffixes the daemon publishes to (``<prefix>.<suffix>``); see DESIGN.md.
TOPIC_SUFFIXES: tuple[str, ...] = ("frames", "frames.shadow", "saliency", "alerts", "rejects",
                                   "goes")


def topic_names(prefix: str) -> dict[str, str]:
    """Map each suffix to its full topic name."""
    return {suffix: f"{prefix}.{suffix}" for suffix in TOPIC_SUFFIXES}


def client_options(settings: KafkaSettings, bootstrap: list[str] | None = None) -> dict[str, Any]:
    """Connection options shared by every kafka-python client of the daemon.

    Parameters
    ----------
    settings : KafkaSettings
        The ``kafka`` section of the config.
    bootstrap : list of str, optional
        Overrides ``settings.bootstrap_servers`` (the local broker's address).
    """
    servers = list(bootstrap or settings.bootstrap_servers)
    if not servers:
        raise ValueError("no bootstrap servers: start the local broker or configure a cluster")
    options: dict[str, Any] = {
        "bootstrap_servers": servers,
        "client_id": settings.client_id,
        "request_timeout_ms": int(settings.request_timeout_s * 1000),
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = read_secret(
            settings.sasl_password_env, settings.sasl_password_file, "kafka.sasl_password_env")
    if settings.security_protocol.endswith("SSL"):
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(settings, key)
            if value is not None:
                options[key] = str(value)
    return options


def existing_topics(options: dict[str, Any]) -> set[str]:
    """The topics the cluster has, asked with a short-lived admin client."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**options)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def ensure_topics(options: dict[str, Any], topics: list[str], partitions: int,
                  replication_factor: int) -> list[str]:
    """Create the topics that do not exist yet; returns the ones created.

    Raises kafka-python's errors when the broker is unreachable or refuses
    (e.g. no CREATE ACL); the caller decides whether that is fatal.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(**options)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            try:
                admin.create_topics([NewTopic(t, partitions, replication_factor)
                                     for t in missing])
            except TopicAlreadyExistsError:
                pass  # another instance created them between list and create
        return missing
    finally:
        admin.close()
