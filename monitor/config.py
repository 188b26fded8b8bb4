"""The daemon's whole configuration as typed objects loaded from YAML.

Each section is a frozen dataclass; the ones that belong to one area live next
to its code (``monitor/<area>/settings.py``) and are assembled here. Loading
validates everything and raises :class:`~monitor.typedyaml.ConfigError` naming
the YAML path, line and file of every problem.

Secrets never have to live in the file: the Kafka SASL password and the HTTP
bearer token are read from an environment variable (``*_env``) or a file
(``*_file``, e.g. a systemd credential under ``$CREDENTIALS_DIRECTORY``) named
in the config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from monitor.alerts import AlertSettings
from monitor.frames import FrameSettings
from monitor.goes.settings import GoesSettings
from monitor.inference.settings import InferenceSettings
from monitor.ingest.settings import IngestSettings
from monitor.preprocess.settings import PreprocessSettings
from monitor.publish.settings import PublishSettings
from monitor.saliency.settings import SaliencySettings
from monitor.sources.settings import FeedSettings
from monitor.typedyaml import ConfigError, ConfigIssue, build, load_yaml, parse_yaml

__all__ = [
    "Config",
    "ConfigError",
    "HttpSettings",
    "KafkaSettings",
    "LocalBrokerSettings",
    "LoggingSettings",
    "ServiceSettings",
    "load_config",
    "parse_config",
    "read_secret",
]


@dataclass(frozen=True)
class ServiceSettings:
    """Where the daemon keeps state and how it trades completeness for latency."""

    state_dir: Path = field(
        default=Path("/var/lib/sdo-monitor"),
        metadata={"doc": "processed-file ledger and outbox (systemd StateDirectory)"})
    cache_dir: Path = field(
        default=Path("/var/cache/sdo-monitor"),
        metadata={"doc": "TensorRT engines and other rebuildable files (CacheDirectory)"})
    mode: Literal["live", "replay"] = field(
        default="live",
        metadata={"doc": "live drops the oldest frames under overload; replay blocks instead"})
    queue_size: int = field(default=64, metadata={"ge": 1, "le": 100_000})
    drain_timeout_s: float = field(
        default=20.0, metadata={"gt": 0, "doc": "max time to flush in-flight work on stop"})
    watchdog: bool = field(default=True, metadata={"doc": "send systemd watchdog pings"})
    instance: str = field(
        default="", metadata={"doc": "name in message sources (urn:sdo-monitor:<instance>); "
                                     "empty = host name"})
    ingest_workers: int = field(
        default=0, metadata={"ge": 0, "le": 64, "doc": "file decoders in parallel; 0 = cores"})
    ingest_executor: Literal["process", "thread"] = field(
        default="process", metadata={"doc": "process: decompression holds the GIL, so "
                                            "processes scale with cores"})
    stale_after_cadences: float = field(
        default=10.0, metadata={"gt": 1, "doc": "a feed is stale after this many cadences "
                                                "without a new file (at least 60 s)"})
    max_future_s: float = field(
        default=3600.0, metadata={"gt": 0, "doc": "refuse files whose T_OBS is further ahead "
                                                 "of this host's clock"})
    ledger_retention_days: float = field(
        default=30.0, metadata={"gt": 0, "doc": "finished ledger rows older than this are "
                                                "pruned (a live AIA feed adds ~50,000 a day); "
                                                "a file re-delivered after that is analysed "
                                                "again, under the same message ids"})
    overlays_kept: int = field(
        default=64, metadata={"ge": 0, "doc": "recent frames whose saliency overlay PNG the "
                                           "API can serve (drawn on first request)"})


@dataclass(frozen=True)
class LoggingSettings:
    """One structured line per event on stderr, for journald."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["keyvalue", "json"] = "keyvalue"


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


@dataclass(frozen=True)
class LocalBrokerSettings:
    """The bundled Kafka-compatible broker (Tansu), used when no cluster is named."""

    port: int = field(default=0, metadata={"ge": 0, "le": 65535, "doc": "0 picks a free port"})
    start_timeout_s: float = field(default=20.0, metadata={"gt": 0})


@dataclass(frozen=True)
class KafkaSettings:
    """The operations center's Kafka cluster, or the local broker when empty."""

    bootstrap_servers: tuple[str, ...] = field(
        default=(), metadata={"doc": "host:port list; empty starts the bundled local broker"})
    topic_prefix: str = field(default="sdo", metadata={"doc": "topics are <prefix>.frames etc."})
    client_id: str = "sdo-monitor"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password_env: str | None = field(
        default=None, metadata={"doc": "environment variable holding the SASL password"})
    sasl_password_file: Path | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    request_timeout_s: float = field(default=30.0, metadata={"gt": 0})
    create_topics: bool = field(
        default=True, metadata={"doc": "create missing topics at start (needs ACL to do so)"})
    partitions: int = field(default=3, metadata={"ge": 1, "le": 1000})
    replication_factor: int = field(default=1, metadata={"ge": 1, "le": 10})
    local: LocalBrokerSettings = field(default_factory=LocalBrokerSettings)

    def check(self) -> list[tuple[str, str]]:
        issues = []
        for i, server in enumerate(self.bootstrap_servers):
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                issues.append((f"bootstrap_servers[{i}]", f"must be host:port, got {server!r}"))
        if not self.topic_prefix or not all(c.isalnum() or c in "._-" for c in self.topic_prefix):
            issues.append(("topic_prefix", "must be non-empty letters, digits, '.', '_' or '-'"))
        if self.security_protocol.startswith("SASL"):
            if self.sasl_mechanism is None:
                issues.append(("sasl_mechanism", f"is required with {self.security_protocol}"))
            if not self.sasl_username:
                issues.append(("sasl_username", f"is required with {self.security_protocol}"))
            if not (self.sasl_password_env or self.sasl_password_file):
                issues.append(("sasl_password_env", "a SASL password must come from "
                               "sasl_password_env or sasl_password_file"))
        if self.sasl_password_env and self.sasl_password_file:
            issues.append(("sasl_password_file", "set sasl_password_env or _file, not both"))
        return issues

    @property
    def uses_local_broker(self) -> bool:
        return not self.bootstrap_servers


@dataclass(frozen=True)
class Config:
    """The whole daemon configuration (root of the YAML document)."""

    service: ServiceSettings = field(default_factory=ServiceSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    feeds: tuple[FeedSettings, ...] = ()
    frames: FrameSettings = field(default_factory=FrameSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    preprocess: PreprocessSettings = field(default_factory=PreprocessSettings)
    inference: InferenceSettings = field(default_factory=InferenceSettings)
    saliency: SaliencySettings = field(default_factory=SaliencySettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    publish: PublishSettings = field(default_factory=PublishSettings)
    goes: GoesSettings = field(default_factory=GoesSettings)

    def check(self) -> list[tuple[str, str]]:
        names = [feed.name for feed in self.feeds]
        return [(f"feeds[{i}].name", f"duplicate feed name {name!r}")
                for i, name in enumerate(names) if name in names[:i]]


def parse_config(text: str, source: str = "<config>") -> Config:
    """Validate YAML text into a :class:`Config`; raises ConfigError."""
    data, marks = parse_yaml(text, source)
    return build(Config, data, source, marks)


def load_config(path: Path | str) -> Config:
    """Load and validate a YAML config file; raises ConfigError naming every problem."""
    data, marks = load_yaml(Path(path))
    return build(Config, data, str(path), marks)


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
