"""Binds the GOES monitor (monitor.goes) to the daemon: metrics, messages, verification.

Every analysed frame is handed to the verifier under the name of the package
that produced it (the serving package's frames and each shadow package's
results are scored apart); every firing alert is watched
for GOES confirmation, and a confirmation is published as a follow-up
``alert.v1`` message with state ``confirmed`` (same alert id). Detected X-ray
events go to ``<prefix>.goes``. Scores are exported as gauges.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitor.alerts import AlertRule
from monitor.atomicfile import write_atomic
from monitor.goes import GoesMonitor, GoesSettings
from monitor.goes.events import threshold_for_alert
from monitor.goes.scores import CELLS
from monitor.logs import get_logger
from monitor.observe.metrics import Metrics
from monitor.pipeline.analysis import ShadowResult
from monitor.pipeline.publishing import PublishedFrame, ResultPublisher

__all__ = ["GoesLink"]

log = get_logger(__name__)


class GoesLink:
    """One daemon's GOES verification (see the module docstring); a frame listener.

    Its lifetime is :meth:`run`: the saved scores are restored first and saved
    again when it ends.
    """

    def __init__(self, settings: GoesSettings, metrics: Metrics, publisher: ResultPublisher,
                 rules: Sequence[AlertRule], state_path: Path, serving: str) -> None:
        self.goes = GoesMonitor(settings, on_event=self._on_event, on_sample=self._on_sample,
                                on_count=self._on_count, on_confirmation=self._on_confirmation)
        self.metrics = metrics
        self.publisher = publisher
        self.rules = {r.name: r for r in rules}
        self.state_path = state_path
        self._serving = serving  # scores saved before packages were named are its
        self._firing: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def restore(self) -> None:
        if self.state_path.exists():
            try:
                self.goes.restore(json.loads(self.state_path.read_text()), self._serving)
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.warning("cannot restore GOES scores", error=str(exc))

    def save(self) -> None:
        try:
            write_atomic(self.state_path, json.dumps(self.goes.snapshot()))
        except OSError as exc:
            log.error("cannot save GOES scores", error=str(exc))

    async def run(self) -> None:
        """Poll GOES until cancelled; the scores survive restarts."""
        self.restore()
        try:
            await self.goes.run()
        finally:
            self.save()

    # -- from the pipeline ------------------------------------------------------
    def frame_published(self, published: PublishedFrame) -> None:
        done = published.done
        self.goes.observe_frame(done.frame_id, done.t_obs, done.probabilities,
                                done.predicted_class, done.model.label)
        for alert, data in zip(done.alerts, published.alerts):
            if alert.state != "firing":
                continue
            rule = self.rules.get(alert.rule)
            self._firing[alert.alert_id] = data
            while len(self._firing) > 256:
                self._firing.popitem(last=False)
            self.goes.watch_alert(alert.alert_id, alert.started_at, threshold_for_alert(
                rule.signal if rule else None, alert.noaa_scale))

    def shadow_published(self, result: ShadowResult) -> None:
        """A shadow package's result: scored under its own package name, never alerted."""
        self.goes.observe_frame(result.frame_id, result.t_obs, result.probabilities,
                                result.predicted_class, result.model.label)

    def export_scores(self) -> None:
        m = self.metrics
        for row in self.goes.scores():
            table, labels = row.table, (row.package, row.threshold, row.window)
            for gauge, value in ((m.verification_tss, table.tss), (m.verification_hss, table.hss)):
                gauge.labels(*labels).set(math.nan if value is None else value)
            for cell in CELLS:
                m.verification_contingency.labels(*labels, cell).set(getattr(table, cell))
        m.verification_pending.set(self.goes.pending)

    # -- hooks from the GOES monitor ---------------------------------------------
    async def _on_event(self, payload: dict[str, Any]) -> None:
        self.metrics.goes_events.labels(str(payload.get("state", "")),
                                        str(payload.get("goes_class") or "")[:1] or "none").inc()
        await self.publisher.event("goes.event", payload)

    def _on_sample(self, sample: Any) -> None:
        self.metrics.goes_flux.labels(self.goes.feed).set(sample.flux)
        self.metrics.goes_last_sample.labels(self.goes.feed).set(sample.time)

    def _on_count(self, family: str, reason: str, n: int = 1) -> None:
        if family == "feed_errors":
            self.metrics.goes_feed_errors.labels(self.goes.feed, reason).inc(n)

    async def _on_confirmation(self, alert_id: str, confirmation: Any) -> None:
        outcome = "confirmed" if confirmation is not None else "not_confirmed"
        self.metrics.goes_confirmations.labels(outcome).inc()
        base = self._firing.pop(alert_id, None)
        if base is None or confirmation is None:
            return
        data = dict(base, state="confirmed", message=confirmation.message)
        await self.publisher.event("alert", data)
        log.warning("alert confirmed by GOES", alert_id=alert_id, message=confirmation.message)
