"""Where observations come from: spool directories, HTTP feeds, Kafka notifications.

Every source yields :class:`FileArrival` objects for complete files through
``run(emit)`` and hears back through ``done(arrival, outcome)``;
:func:`make_source` builds one from a feed's settings, by its ``kind``
(:data:`~monitor.sources.base.SOURCES`). Each kind's settings class is defined
with its source (``spool``; ``httpindex`` for ``httpfeed``; ``kafkafeed``),
and :data:`FeedSettings`, what a config's ``feeds`` entry may be, is their union.
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
from monitor.sources.download import DownloadSettings
from monitor.sources.httpindex import HttpFeedSettings
from monitor.sources.kafkafeed import KafkaFeedSettings
from monitor.sources.notifications import make_notification, notification_key
from monitor.sources.spool import SpoolFeedSettings

__all__ = ["DownloadSettings", "Emit", "FeedSettings", "FileArrival", "HttpFeedSettings",
           "KafkaFeedSettings", "Outcome", "Refusal", "Refuse", "Source", "SourceBase",
           "SourceStats", "SpoolFeedSettings", "make_notification", "make_source",
           "notification_key", "registered_kinds"]

#: One entry of the config's ``feeds``; the YAML's ``kind`` picks the class
#: (see :mod:`monitor.typedyaml`). A new kind adds its settings class here.
FeedSettings = SpoolFeedSettings | HttpFeedSettings | KafkaFeedSettings
