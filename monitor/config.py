"""The daemon's whole configuration as typed objects loaded from YAML.

Each section is a frozen dataclass; the ones that belong to one area live next
to its code (``monitor/<area>/settings.py``; each feed kind's in its source's
module, gathered in :data:`monitor.sources.FeedSettings`) and are assembled
here. Loading
validates everything and raises :class:`~monitor.typedyaml.ConfigError` naming
the YAML path, line and file of every problem.

Secrets never have to live in the file: the Kafka SASL password and the HTTP
bearer token are read (:func:`monitor.credentials.read_secret`) from an
environment variable (``*_env``) or a file (``*_file``) named in the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from monitor.alerts import AlertSettings
from monitor.frames import FrameSettings
from monitor.goes.settings import GoesSettings
from monitor.inference.settings import InferenceSettings
from monitor.ingest.settings import IngestSettings
from monitor.observe.settings import HttpSettings
from monitor.preprocess.settings import PreprocessSettings
from monitor.publish.settings import KafkaSettings, PublishSettings
from monitor.saliency.settings import SaliencySettings
from monitor.sources import FeedSettings
from monitor.typedyaml import ConfigError, build, load_yaml, parse_yaml

__all__ = [
    "Config",
    "ConfigError",
    "LoggingSettings",
    "ServiceSettings",
    "load_config",
    "parse_config",
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
        default="", metadata={"max_len": 64,
                              "doc": "name in message sources (urn:sdo-monitor:<instance>); "
                                     "letters, digits, '.', '_', '-'; empty = host name"})
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

    def check(self) -> list[tuple[str, str]]:
        if self.instance and not all(c.isascii() and (c.isalnum() or c in "._-")
                                     for c in self.instance):
            return [("instance", "must be letters, digits, '.', '_' or '-'")]
        return []


@dataclass(frozen=True)
class LoggingSettings:
    """One structured line per event on stderr, for journald."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["keyvalue", "json"] = "keyvalue"


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
