"""What a published frame sets in the metrics: model outputs, saliency time, alerts."""

from __future__ import annotations

from monitor.logs import get_logger
from monitor.observe.metrics import Metrics
from monitor.pipeline.publishing import PublishedFrame

__all__ = ["ResultGauges"]

log = get_logger(__name__)


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
