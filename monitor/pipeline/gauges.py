"""What the pipeline sets in the metrics: every series known at start, each inference
batch, each published frame.

The metric definitions are :mod:`monitor.observe.metrics`'s; this module only
turns the pipeline's own events into values, so a stage never reaches into
the registry.
"""

from __future__ import annotations

from monitor.config import Config
from monitor.inference import BatchEvent
from monitor.logs import get_logger
from monitor.observe.metrics import Metrics
from monitor.pipeline.publishing import PublishedFrame
from monitor.pipeline.refusals import REJECT_REASONS
from monitor.pipeline.switch import SWITCH_REASONS, SWITCH_RESULTS
from monitor.publish.kafka_client import topic_names
from monitor.publish.producer import ERROR_KINDS

__all__ = ["BatchGauges", "ResultGauges", "start_gauges"]

log = get_logger(__name__)


def start_gauges(metrics: Metrics, config: Config, *, local_broker: bool) -> None:
    """At start: the daemon is up, whether it publishes to the local broker, and every
    label combination the config already names at zero (see
    :meth:`~monitor.observe.metrics.Metrics.start_known_series`: a counter that
    appears only with its first event hides that event from ``rate()``)."""
    metrics.up.set(1)
    metrics.local_broker.set(1 if local_broker else 0)
    metrics.start_known_series(
        feeds=[f.name for f in config.feeds], rules=[r.name for r in config.alerts.rules],
        topics=list(topic_names(config.kafka.topic_prefix).values()),
        reject_reasons=REJECT_REASONS, publish_errors=ERROR_KINDS,
        switch_results=SWITCH_RESULTS, switch_reasons=list(SWITCH_REASONS))


class BatchGauges:
    """A batcher observer: each inference batch's size, time and failed frames, and how
    long its frames waited for it."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def __call__(self, event: BatchEvent) -> None:
        m = self._metrics
        m.batch_size.observe(event.frames)
        m.stage_seconds["inference"].observe(event.infer_s)
        if event.failed:
            m.inference_failures.inc(event.failed)
        for wait in event.queue_wait_s:
            m.stage_seconds["queue_wait"].observe(wait)


class ResultGauges:
    """A frame listener: the newest class probabilities and irradiance per feed, the
    saliency duration, and alert transitions (counted, and logged for the journal)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def frame_published(self, published: PublishedFrame) -> None:
        m, done = self._metrics, published.done
        if "saliency" in done.timings_s:
            m.stage_seconds["saliency"].observe(done.timings_s["saliency"])
        for name, p in done.probabilities.items():
            m.class_probability.labels(done.feed, name).set(p)
        for line in done.irradiance:
            m.irradiance.labels(done.feed, line.name).set(line.value_w_m2)
        for alert in done.alerts:
            m.alerts.labels(alert.rule, alert.state).inc()
            m.alerts_active.labels(alert.rule).set(alert.state == "firing")
            log.warning("alert", rule=alert.rule, state=alert.state, message=alert.message)
