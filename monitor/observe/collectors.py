"""Collectors that read snapshots at scrape time instead of counting as they go.

Sources keep their own monotonic counters (:class:`monitor.sources.SourceStats`);
rather than mirroring every increment into Prometheus objects, this collector
turns the latest snapshots into metric families when Prometheus scrapes.
The families are always described (even with no source attached), so the
dashboard/rules name check sees them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["SourceStatsCollector"]


class SourceStatsCollector(Collector):
    """Feed counters from ``provider()``, a callable returning SourceStats snapshots."""

    def __init__(self, prefix: str, provider: Callable[[], Iterable[Any]] = lambda: ()) -> None:
        self.prefix = prefix
        self.provider = provider

    def collect(self) -> Iterator[Metric]:
        p = self.prefix
        seen = CounterMetricFamily(f"{p}_source_files_seen", "Candidate files seen by a feed.",
                                   labels=["feed"])
        emitted = CounterMetricFamily(f"{p}_source_files_emitted",
                                      "Files a feed handed to the pipeline.", labels=["feed"])
        ignored = CounterMetricFamily(f"{p}_source_files_ignored",
                                      "Files a feed left alone, by reason.",
                                      labels=["feed", "reason"])
        errors = CounterMetricFamily(f"{p}_source_errors", "Feed errors by kind.",
                                     labels=["feed", "kind"])
        in_flight = GaugeMetricFamily(f"{p}_source_in_flight",
                                      "Files handed over and not yet settled.", labels=["feed"])
        last_file = GaugeMetricFamily(f"{p}_source_last_file_timestamp_seconds",
                                      "When a feed last handed over a file (Unix time).",
                                      labels=["feed"])
        for stats in self.provider():
            seen.add_metric([stats.feed], stats.seen)
            emitted.add_metric([stats.feed], stats.emitted)
            for reason, n in stats.ignored.items():
                ignored.add_metric([stats.feed, reason], n)
            for kind, n in stats.errors.items():
                errors.add_metric([stats.feed, kind], n)
            in_flight.add_metric([stats.feed], stats.in_flight)
            if stats.last_seen is not None:
                last_file.add_metric([stats.feed], stats.last_seen)
        yield from (seen, emitted, ignored, errors, in_flight, last_file)

    def describe(self) -> Iterator[Metric]:
        # describe() without samples lets registration check names without a provider
        provider, self.provider = self.provider, lambda: ()
        try:
            yield from self.collect()
        finally:
            self.provider = provider
