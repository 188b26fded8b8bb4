"""Where observations come from: spool directories, HTTP feeds, Kafka notifications.

Every source yields :class:`FileArrival` objects for complete files through
``run(emit)`` and hears back through ``done(arrival, outcome)``;
:func:`make_source` builds one from a feed's settings. The HTTP and Kafka
sources are imported on first use so a spool-only daemon never loads
aiohttp or kafka-python.
"""

from __future__ import annotations

from typing import Any

from monitor.sources.base import (
    Emit,
    FileArrival,
    Outcome,
    Refusal,
    Refuse,
    Source,
    SourceBase,
    SourceStats,
    make_source,
    registered_kinds,
)
from monitor.sources.notifications import make_notification, notification_key
from monitor.sources.settings import (
    DownloadSettings,
    FeedSettings,
    HttpFeedSettings,
    KafkaFeedSettings,
    SpoolFeedSettings,
)
from monitor.sources.spool import SpoolSource

__all__ = ["DownloadSettings", "Emit", "FeedSettings", "FileArrival", "HttpFeedSettings",
           "HttpSource", "KafkaFeedSettings", "KafkaNotificationSource", "Outcome", "Refusal", "Refuse", "Source",
           "SourceBase", "SourceStats", "SpoolFeedSettings", "SpoolSource", "make_notification",
           "make_source", "notification_key", "registered_kinds"]

_LAZY = {"HttpSource": "monitor.sources.httpfeed",
         "KafkaNotificationSource": "monitor.sources.kafkafeed"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
