"""Where observations come from: spool directories, HTTP feeds, Kafka notifications.

Every source yields :class:`FileArrival` objects for complete files through
``run(emit)`` and hears back through ``done(arrival, outcome)``;
:func:`make_source` builds one from a feed's settings, by its ``kind``
(:data:`~monitor.sources.base.SOURCES`). The kinds' modules (``spool``,
``httpfeed``, ``kafkafeed``) are imported when a source is first built.
"""

from __future__ import annotations

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

__all__ = ["DownloadSettings", "Emit", "FeedSettings", "FileArrival", "HttpFeedSettings",
           "KafkaFeedSettings", "Outcome", "Refusal", "Refuse", "Source", "SourceBase",
           "SourceStats", "SpoolFeedSettings", "make_notification", "make_source",
           "notification_key", "registered_kinds"]
