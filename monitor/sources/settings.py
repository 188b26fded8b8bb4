"""Settings of the feeds the daemon watches, one dataclass per kind of source.

The YAML's ``kind`` key selects the class (see ``monitor.typedyaml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["AIA_CHANNELS", "FeedSettings", "HttpFeedSettings", "KafkaFeedSettings",
           "SpoolFeedSettings"]

#: The EUV channels of AIA, in Angstrom.
AIA_CHANNELS: tuple[int, ...] = (94, 131, 171, 193, 211, 304, 335)

_NAME = {"doc": "short feed name used in metric labels and logs"}


@dataclass(frozen=True)
class SpoolFeedSettings:
    """A directory that other software writes complete files into."""

    name: str = field(metadata=_NAME)
    path: Path = field(metadata={"doc": "spool directory to watch"})
    kind: Literal["spool"] = "spool"
    channels: tuple[int, ...] = field(default=AIA_CHANNELS, metadata={"choices": AIA_CHANNELS})
    cadence_s: float = field(
        default=12.0, metadata={"gt": 0, "doc": "expected seconds between observations"})
    stable_s: float = field(
        default=2.0, metadata={"ge": 0, "doc": "size/mtime must be unchanged this long "
                                               "for files that were not renamed into place"})
    poll_interval_s: float = field(default=1.0, metadata={"gt": 0})
    after_processing: Literal["keep", "move", "delete"] = "move"
    done_dir: Path | None = field(
        default=None, metadata={"doc": "where processed files go with after_processing: move; "
                                       "default <path>/done"})

    def check(self) -> list[tuple[str, str]]:
        if not self.name.replace("-", "").replace("_", "").isalnum():
            return [("name", f"must be letters, digits, '-' or '_', got {self.name!r}")]
        return []


@dataclass(frozen=True)
class HttpFeedSettings:
    """An HTTP index (directory listing or JSON) polled for new files."""

    name: str = field(metadata=_NAME)
    url: str = field(metadata={"doc": "index URL (http:// or https://)"})
    spool: Path = field(metadata={"doc": "downloads land here before ingest"})
    kind: Literal["http"] = "http"
    channels: tuple[int, ...] = field(default=AIA_CHANNELS, metadata={"choices": AIA_CHANNELS})
    cadence_s: float = field(default=180.0, metadata={"gt": 0})
    poll_interval_s: float = field(default=60.0, metadata={"gt": 0})
    timeout_s: float = field(default=30.0, metadata={"gt": 0})
    max_file_bytes: int = field(default=64 * 1024 * 1024, metadata={"gt": 0})

    def check(self) -> list[tuple[str, str]]:
        if not self.url.startswith(("http://", "https://")):
            return [("url", f"must start with http:// or https://, got {self.url!r}")]
        return []


@dataclass(frozen=True)
class KafkaFeedSettings:
    """A Kafka topic of "file available" notifications consumed in a group."""

    name: str = field(metadata=_NAME)
    topic: str = field(metadata={"doc": "notification topic"})
    kind: Literal["kafka"] = "kafka"
    group_id: str = "sdo-monitor"
    channels: tuple[int, ...] = field(default=AIA_CHANNELS, metadata={"choices": AIA_CHANNELS})
    cadence_s: float = field(default=12.0, metadata={"gt": 0})


FeedSettings = SpoolFeedSettings | HttpFeedSettings | KafkaFeedSettings
