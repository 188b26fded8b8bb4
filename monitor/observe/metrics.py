"""Every Prometheus metric of the daemon, defined in this one module.

Naming follows Prometheus conventions: prefix ``sdo_monitor_``, base units
(seconds, bytes, W m^-2), ``_total`` for counters, labels only from small
fixed sets (feed, channel, stage, backend, reason, topic, rule, class, line, and
package: the serving package and the shadows, at most 8 scored at once).
The Grafana dashboard and the alert rules may use only names defined here (a
test checks this).

Each stage has its own latency histogram because their scales differ by two
orders of magnitude: a bucket set that resolves 5 ms inference steps is
useless for a 20 s end-to-end wait on a partial frame.

Metrics live in their own registry rather than the process-global default so
tests and an embedded daemon can create a fresh set.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

import monitor
from monitor.observe.collectors import SourceStatsCollector

__all__ = ["DROP_REASONS", "PREFIX", "RETRY_STAGES", "STAGE_BUCKETS", "Metrics"]

PREFIX = "sdo_monitor"

#: Histogram buckets per pipeline stage, in seconds.
STAGE_BUCKETS: dict[str, tuple[float, ...]] = {
    "ingest": (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0),
    "preprocess": (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5),
    "queue_wait": (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0),
    "inference": (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
    "saliency": (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
    "publish": (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0),
    "end_to_end": (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0),
    # from the frame's last file (the earliest it could be analysed): AIA spreads
    # one frame's channels over ~10 s, so end_to_end cannot show a 0.5 s target
    "last_file_to_ack": (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0),
}


#: (stage, reason) pairs of ``drops_total``.
DROP_REASONS: tuple[tuple[str, str], ...] = (
    ("frames", "overload"), ("publish", "outbox_full"), ("publish", "outbox_error"))
#: Stages of ``retries_total``.
RETRY_STAGES: tuple[str, ...] = ("ingest", "analysis", "publish", "ledger")


@dataclass
class Metrics:
    """The daemon's metrics, bound to one registry.

    ``source_stats`` returns the feeds' :class:`~monitor.sources.SourceStats`
    snapshots, read at scrape time.
    """

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    source_stats: Callable[[], Iterable[Any]] = field(default=lambda: ())

    def __post_init__(self) -> None: # one flat list of definitions
        r = self.registry
        p = PREFIX
        self.build_info = Info(f"{p}_build", "Version of the running daemon and its runtime.",
                               registry=r)
        self.build_info.info({"version": monitor.__version__,
                              "python": platform.python_version()})
        self.up = Gauge(f"{p}_up", "1 while the daemon is running.", registry=r)
        self.ready = Gauge(f"{p}_ready", "1 when the daemon is ready to process frames.",
                           registry=r)
        self.degraded = Gauge(
            f"{p}_degraded", "1 while running degraded (fallback backend, stale feed, "
            "refused model switch, ...).",
            registry=r)
        self.heartbeat = Gauge(
            f"{p}_heartbeat_timestamp_seconds",
            "Last time the pipeline proved it moves (Unix time).", registry=r)
        self.local_broker = Gauge(
            f"{p}_local_broker",
            "1 when the bundled local Kafka broker is in use instead of a cluster.", registry=r)

        # -- feeds and input files
        self.files = Counter(f"{p}_files_total", "Input files by outcome.",
                             ["feed", "outcome"], registry=r)
        self.rejections = Counter(f"{p}_rejections_total", "Rejected input files by reason.",
                                  ["feed", "reason"], registry=r)
        self.quality_flags = Counter(
            f"{p}_quality_flags_total", "Accepted files with a flag-only QUALITY bit set.",
            ["channel", "flag"], registry=r)
        self.last_observation = Gauge(
            f"{p}_last_observation_timestamp_seconds",
            "Observation time (T_OBS, Unix time) of the newest file accepted per feed.",
            ["feed"], registry=r)
        self.sources = SourceStatsCollector(p, self.source_stats)
        r.register(self.sources)
        self.channel_last_observation = Gauge(
            f"{p}_channel_last_observation_timestamp_seconds",
            "Observation time (T_OBS, Unix time) of the newest file accepted per feed and "
            "channel (wavelength in Angstrom); the dashboard's per-channel freshness.",
            ["feed", "channel"], registry=r)
        self.feed_stale = Gauge(f"{p}_feed_stale",
                                "1 when a feed has delivered nothing for too long.",
                                ["feed"], registry=r)
        self.source_up = Gauge(f"{p}_source_up",
                               "1 while a feed's source task runs, 0 while it waits to be "
                               "restarted after a failure.", ["feed"], registry=r)
        self.source_restarts = Counter(f"{p}_source_restarts_total",
                                       "Times a feed's source task failed and was restarted.",
                                       ["feed"], registry=r)
        self.calibration_table_age = Gauge(
            f"{p}_calibration_table_age_seconds",
            "Time from the degradation table's last day to now, seconds (NaN without a "
            "table); past 0, live frames are corrected with factors extrapolated from its "
            "last 90 days.",
            registry=r)

        # -- frames, queues, drops
        self.frames = Counter(f"{p}_frames_total", "Frames by completeness.",
                              ["feed", "completeness"], registry=r)
        self.queue_depth = Gauge(f"{p}_queue_depth", "Items waiting before each stage.",
                                 ["stage"], registry=r)
        self.drops = Counter(f"{p}_drops_total", "Work dropped under overload, by reason.",
                             ["stage", "reason"], registry=r)
        self.retries = Counter(
            f"{p}_retries_total", "Files scheduled for another attempt after a failure.",
            ["stage"], registry=r)
        self.stage_seconds = {
            stage: Histogram(f"{p}_{stage}_seconds", f"Latency of the {stage} stage.",
                             buckets=buckets, registry=r)
            for stage, buckets in STAGE_BUCKETS.items()
        }

        # -- inference
        self.backend_info = Info(f"{p}_backend", "Inference backend in use.", registry=r)
        self.model_info = Info(f"{p}_model", "Model package serving now (name, version, "
                                             "sha256, provenance: synthetic, real or mixed).",
                               registry=r)
        self.model_switches = Counter(
            f"{p}_model_switches_total", "Model switch attempts (SIGHUP or the watched "
            "package link) by result: switched, unchanged, refused.", ["result"], registry=r)
        self.model_switch_refused = Gauge(
            f"{p}_model_switch_refused", "1 while the last model switch stands refused (the "
            "old package serves) until a switch succeeds or the link points back.", registry=r)
        self.model_switch_refusals = Counter(
            f"{p}_model_switch_refusals_total", "Packages refused at a switch, by reason "
            "(the old package kept serving).", ["reason"], registry=r)
        self.inference_failures = Counter(
            f"{p}_inference_failures_total", "Frames whose inference raised.", registry=r)
        self.batch_size = Histogram(f"{p}_batch_size", "Frames per inference batch.",
                                    buckets=(1, 2, 4, 8, 16, 32, 64), registry=r)
        self.backend_degraded = Gauge(
            f"{p}_backend_degraded",
            "1 while inference runs on a fallback backend instead of its target "
            "(engine building or failed); sdo_monitor_degraded also counts stale feeds.",
            registry=r)
        self.engine_build = Gauge(
            f"{p}_engine_build_state",
            "TensorRT engine: 0 none, 1 building, 2 ready, 3 failed.", registry=r)
        self.class_probability = Gauge(
            f"{p}_class_probability", "Latest frame's flare-class probability.",
            ["feed", "class"], registry=r)
        self.irradiance = Gauge(
            f"{p}_irradiance_w_m2", "Latest frame's estimated EUV line irradiance.",
            ["feed", "line"], registry=r)

        # -- saliency
        self.overlay_seconds = Histogram(
            f"{p}_overlay_seconds", "Time to render one saliency overlay PNG (on its first request).",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0), registry=r)
        self.saliency_errors = Counter(
            f"{p}_saliency_errors_total", "Frames whose saliency could not be computed.",
            ["reason"], registry=r)

        # -- publishing
        self.published = Counter(f"{p}_published_total",
                                 "Messages acknowledged by the broker.", ["topic"], registry=r)
        self.publish_errors = Counter(f"{p}_publish_errors_total",
                                      "Publishing errors by kind.", ["kind"], registry=r)
        self.outbox_pending = Gauge(f"{p}_outbox_pending_messages",
                                    "Messages waiting in the outbox for broker acknowledgement.",
                                    registry=r)
        self.outbox_bytes = Gauge(f"{p}_outbox_bytes", "Size of the pending messages.",
                                  registry=r)
        self.outbox_oldest_age = Gauge(f"{p}_outbox_oldest_age_seconds",
                                       "Age of the oldest unacknowledged message.", registry=r)
        self.producer_generation = Gauge(
            f"{p}_producer_generation",
            "Kafka producers created so far (grows when one failed fatally).", registry=r)

        # -- GOES X-rays and verification
        self.goes_flux = Gauge(f"{p}_goes_xrsb_flux_w_m2",
                               "Latest GOES XRS-B (0.1-0.8 nm) flux on NOAA's class scale.",
                               ["feed"], registry=r)
        self.goes_last_sample = Gauge(f"{p}_goes_last_sample_timestamp_seconds",
                                      "Time of the newest GOES sample (Unix time).", ["feed"],
                                      registry=r)
        self.goes_feed_errors = Counter(f"{p}_goes_feed_errors_total",
                                        "GOES feed problems by reason.", ["feed", "reason"],
                                        registry=r)
        self.goes_events = Counter(f"{p}_goes_events_total", "GOES X-ray event messages.",
                                   ["state", "class"], registry=r)
        self.goes_confirmations = Counter(f"{p}_goes_confirmations_total",
                                          "Alerts confirmed or not by GOES.", ["outcome"],
                                          registry=r)
        # package: name:version of the serving package and each shadow (a handful)
        self.verification_tss = Gauge(f"{p}_verification_tss",
                                      "True skill statistic of each package against GOES.",
                                      ["package", "threshold", "window"], registry=r)
        self.verification_hss = Gauge(f"{p}_verification_hss",
                                      "Heidke skill score of each package against GOES.",
                                      ["package", "threshold", "window"], registry=r)
        self.verification_contingency = Gauge(
            f"{p}_verification_contingency",
            "Contingency table cells of each package against GOES.",
            ["package", "threshold", "window", "cell"], registry=r)
        self.verification_pending = Gauge(
            f"{p}_verification_pending_predictions",
            "Predictions waiting for GOES data to cover their time.", registry=r)

        # -- shadow (candidate) packages
        self.shadow_frames = Counter(
            f"{p}_shadow_frames_total",
            "Frames a shadow package analysed and published to <prefix>.frames.shadow.",
            ["package"], registry=r)
        self.shadow_skipped = Counter(
            f"{p}_shadow_skipped_total",
            "Frames a shadow package did not analyse because the pipeline was behind "
            "(spare capacity only), or whose shadow analysis failed.",
            ["package"], registry=r)
        self.shadow_irradiance_difference = Gauge(
            f"{p}_shadow_irradiance_relative_difference",
            "Latest frame: median over the EVE lines of |shadow - serving| / serving "
            "irradiance (agreement between packages; the daemon has no EVE truth).",
            ["package"], registry=r)

        # -- alerts
        self.alerts = Counter(f"{p}_alerts_total", "Alert transitions.", ["rule", "state"],
                              registry=r)
        self.alerts_active = Gauge(f"{p}_alerts_active", "1 while an alert rule is firing.",
                                   ["rule"], registry=r)

    def start_known_series(self, *, feeds: Sequence[str], rules: Sequence[str],
                           topics: Sequence[str], reject_reasons: Sequence[str],
                           publish_errors: Sequence[str], switch_results: Sequence[str],
                           switch_reasons: Sequence[str]) -> None:
        """Create every label combination known at start, at zero.

        A counter series that appears only with its first event has no earlier
        sample, so ``rate()`` and ``increase()`` read 0 across that first event
        (the dashboard's alert panel missed the first alert that way).
        """
        for rule in rules:
            self.alerts_active.labels(rule)
            for state in ("firing", "resolved"):
                self.alerts.labels(rule, state)
        for topic in topics:
            self.published.labels(topic)
        for result in switch_results:
            self.model_switches.labels(result)
        for reason in switch_reasons:
            self.model_switch_refusals.labels(reason)
        for kind in publish_errors:
            self.publish_errors.labels(kind)
        for stage, reason in DROP_REASONS:
            self.drops.labels(stage, reason)
        for stage in RETRY_STAGES:
            self.retries.labels(stage)
        for feed in feeds:
            self.source_restarts.labels(feed)
            for reason in reject_reasons:
                self.rejections.labels(feed, reason)
            for outcome in ("processed", "rejected", "duplicate"):
                self.files.labels(feed, outcome)
            for completeness in ("complete", "partial", "abandoned"):
                self.frames.labels(feed, completeness)
