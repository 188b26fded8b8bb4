"""What the HTTP API sees of a running daemon (the ``DaemonView`` protocol).

:class:`RecentFrames` is the API's memory: a bounded store of the last
analysed frames (by id and newest first, with their saliency summaries),
alert transitions, the newest observation per channel and a ring buffer of
model outputs (irradiance lines, class probabilities) for the status page's
sparklines. Everything in it is bounded by count; the history is also bounded
by observation time, so a replay of an old day shows that day's hours. It
hears every published frame (a frame listener) as a :class:`FrameEntry`:
typed values for its indexes, and the payloads it serves as they were
published.

:class:`DaemonStatusView` answers the API from that memory, the overlay
store and a :class:`~monitor.pipeline.status.PipelineSnapshot`; it never
touches a stage.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

import monitor
from monitor.observe.http import Health, Page, Readiness
from monitor.pipeline.messages import quality_codes
from monitor.pipeline.overlays import OverlayStore
from monitor.pipeline.publishing import PublishedFrame
from monitor.pipeline.roster import ModelRoster
from monitor.pipeline.status import PipelineSnapshot, health, readiness
from monitor.publish.envelope import rfc3339

__all__ = ["ChannelEntry", "DaemonIdentity", "DaemonStatusView", "FrameEntry", "FrameRecord",
           "RecentFrames"]


@dataclass(frozen=True)
class ChannelEntry:
    """One file of a frame, as the channel list shows it."""

    channel: int
    t_obs: datetime
    file: str
    quality: int
    quality_flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class FrameEntry:
    """One published frame as the API's memory takes it."""

    frame_id: str
    feed: str
    t_obs: float
    channels: tuple[ChannelEntry, ...]
    irradiance: dict[str, float]
    probabilities: dict[str, float]
    frame: dict[str, Any]
    saliency: dict[str, Any] | None = None

    @classmethod
    def of(cls, published: PublishedFrame) -> FrameEntry:
        done = published.done
        return cls(done.frame_id, done.feed, done.t_obs.timestamp(),
                   tuple(ChannelEntry(o.wavelength, o.t_obs, PurePosixPath(o.path).name,
                                      int(o.quality), tuple(quality_codes(o)))
                         for o in done.observations),
                   {line.name: line.value_w_m2 for line in done.irradiance},
                   dict(done.probabilities), published.frame, published.saliency)


@dataclass(frozen=True)
class FrameRecord:
    """One analysed frame as the API keeps it."""

    seq: int
    frame_id: str
    feed: str
    t_obs: float
    frame: dict[str, Any]
    saliency: dict[str, Any] | None

    def summary(self) -> dict[str, Any]:
        """The short form used in lists."""
        f = self.frame
        return {"seq": self.seq, "frame_id": self.frame_id, "feed": self.feed,
                "t_obs": f["t_obs"], "predicted_class": f["predicted_class"],
                "class_probabilities": f["class_probabilities"],
                "missing_channels": f["missing_channels"],
                "flags": f["flags"], "backend": f["backend"],
                "saliency": self.saliency is not None}


@dataclass(frozen=True)
class _Point:
    t: float
    feed: str
    irradiance: dict[str, float]
    probabilities: dict[str, float]


class RecentFrames:
    """Bounded memory of recent frames, alerts, channels and model outputs.

    Parameters
    ----------
    frames_kept : int
        Frames (with saliency summaries) kept for ``/api/v1/frames``; ~5-20 kB each.
    alerts_kept : int
        Alert transitions kept for ``/api/v1/alerts``.
    history_s : float
        Observation-time span of the sparkline history.
    history_points : int
        Ring-buffer length of the history (6 h of 12 s frames is 1800).
    """

    def __init__(self, frames_kept: int = 256, alerts_kept: int = 500,
                 history_s: float = 24 * 3600.0, history_points: int = 8192) -> None:
        self.frames_kept = frames_kept
        self.history_s = history_s
        self._frames: OrderedDict[str, FrameRecord] = OrderedDict()
        self._alerts: deque[tuple[int, dict[str, Any]]] = deque(maxlen=alerts_kept)
        self._alert_keys: set[tuple[str, str]] = set()
        self._open: dict[str, dict[str, Any]] = {}
        self._channels: dict[tuple[str, int], tuple[float, dict[str, Any]]] = {}
        self._history: deque[_Point] = deque(maxlen=history_points)
        self._seq = 0
        self._alert_seq = 0

    def __len__(self) -> int:
        return len(self._frames)

    def __contains__(self, frame_id: object) -> bool:
        return frame_id in self._frames

    # -- writing ------------------------------------------------------------------
    def frame_published(self, published: PublishedFrame) -> None:
        """Record one published frame with its saliency summary and alert transitions."""
        self.add_frame(FrameEntry.of(published))
        for event, alert in zip(published.done.alerts, published.alerts):
            self.add_alert(alert | {"feed": event.feed})

    def add_frame(self, entry: FrameEntry) -> bool:
        """Record a frame; False when its id is already known (a late saliency summary
        is attached to it)."""
        frame_id = entry.frame_id
        if frame_id in self._frames:
            old = self._frames[frame_id]
            if entry.saliency is not None and old.saliency is None:
                self._frames[frame_id] = FrameRecord(old.seq, frame_id, old.feed, old.t_obs,
                                                     old.frame, entry.saliency)
            return False
        self._seq += 1
        self._frames[frame_id] = FrameRecord(self._seq, frame_id, entry.feed, entry.t_obs,
                                             entry.frame, entry.saliency)
        while len(self._frames) > self.frames_kept:
            self._frames.popitem(last=False)
        for item in entry.channels:
            key = (entry.feed, item.channel)
            known = self._channels.get(key)
            t_item = item.t_obs.timestamp()
            if known is None or t_item >= known[0]:
                self._channels[key] = (t_item, {
                    "feed": entry.feed, "channel": item.channel, "t_obs": rfc3339(item.t_obs),
                    "file": item.file, "quality": item.quality,
                    "quality_flags": list(item.quality_flags), "frame_id": frame_id})
        self._history.append(_Point(entry.t_obs, entry.feed, dict(entry.irradiance),
                                    dict(entry.probabilities)))
        newest = max(p.t for p in self._history)
        while self._history and self._history[0].t < newest - self.history_s:
            self._history.popleft()
        return True

    def add_alert(self, alert: dict[str, Any]) -> bool:
        """Record an ``alert.v1`` payload; False when this transition is already known."""
        key = (alert["alert_id"], alert["state"])
        if key in self._alert_keys:
            return False
        if len(self._alerts) == self._alerts.maxlen:
            _, oldest = self._alerts[0]
            self._alert_keys.discard((oldest["alert_id"], oldest["state"]))
        self._alert_seq += 1
        self._alerts.append((self._alert_seq, alert))
        self._alert_keys.add(key)
        if alert["state"] == "firing":
            self._open[alert["alert_id"]] = alert
        else:
            self._open.pop(alert["alert_id"], None)
        return True

    # -- reading --------------------------------------------------------------------
    def get(self, frame_id: str) -> FrameRecord | None:
        return self._frames.get(frame_id)

    def latest(self) -> FrameRecord | None:
        return next(reversed(self._frames.values()), None)

    def frames(self, limit: int, before: int | None = None) -> tuple[list[FrameRecord],
                                                                      int | None]:
        """Newest first; ``before`` is a ``seq`` cursor from a previous page."""
        return _page(((r.seq, r) for r in reversed(self._frames.values())), limit, before)

    def alerts(self, limit: int, before: int | None = None) -> tuple[list[dict[str, Any]],
                                                                      int | None]:
        """Alert transitions, newest first, each with its ``seq`` cursor."""
        return _page(((s, {"seq": s, **a}) for s, a in reversed(self._alerts)), limit, before)

    def open_alerts(self) -> list[dict[str, Any]]:
        """Alerts whose newest transition is ``firing``."""
        return sorted(self._open.values(), key=lambda a: a["started_at"], reverse=True)

    def channels(self) -> list[dict[str, Any]]:
        """Newest observation per (feed, channel)."""
        return [c for _, (_, c) in sorted(self._channels.items())]

    def history(self, window_s: float, points: int) -> dict[str, Any]:
        """Model outputs per feed over ``window_s`` before the newest observation.

        Longer series are reduced to ``points`` time bins keeping each bin's
        maximum, so a short flare peak survives the reduction.
        """
        if not self._history:
            return {"window_s": window_s, "t_end": None, "feeds": {}}
        t_end = max(p.t for p in self._history)
        start = t_end - window_s
        feeds: dict[str, list[_Point]] = {}
        for p in self._history:
            if p.t >= start:
                feeds.setdefault(p.feed, []).append(p)
        return {"window_s": window_s, "t_end": t_end,
                "feeds": {feed: _series(sorted(pts, key=lambda p: p.t), start, window_s,
                                        points) for feed, pts in feeds.items()}}


def _page(items: Iterable[tuple[int, Any]], limit: int,
          before: int | None) -> tuple[list[Any], int | None]:
    out: list[Any] = []
    last_seq = None
    for seq, item in items:
        if before is not None and seq >= before:
            continue
        if len(out) == limit:
            return out, last_seq
        out.append(item)
        last_seq = seq
    return out, None


def _series(points: list[_Point], start: float, window_s: float, n: int) -> dict[str, Any]:
    if len(points) > n:
        bins: dict[int, list[_Point]] = {}
        for p in points:
            bins.setdefault(min(n - 1, int((p.t - start) / window_s * n)), []).append(p)
        groups = [bins[k] for k in sorted(bins)]
    else:
        groups = [[p] for p in points]
    lines = list(dict.fromkeys(k for p in points for k in p.irradiance))
    classes = list(dict.fromkeys(k for p in points for k in p.probabilities))
    return {
        "t": [g[-1].t for g in groups],
        "irradiance_w_m2": {line: [max((p.irradiance[line] for p in g if line in p.irradiance),
                                       default=None) for g in groups] for line in lines},
        "class_probabilities": {c: [max(p.probabilities.get(c, 0.0) for p in g)
                                    for g in groups] for c in classes},
    }


@dataclass(frozen=True)
class DaemonIdentity:
    """What the status page says about the daemon itself."""

    instance: str
    mode: str
    started: float  # time.monotonic() at start


class DaemonStatusView:
    """The HTTP API's read-only view of the daemon.

    Parameters
    ----------
    snapshot : callable
        The pipeline's snapshot.
    recent : RecentFrames
        The API's memory (fed by the pipeline as a frame listener).
    overlays : OverlayStore
        Saliency overlay PNGs, drawn on request.
    identity : DaemonIdentity
        Instance, mode, start time.
    roster : ModelRoster
        The serving and shadow packages, their cards and live scores.
    """

    def __init__(self, snapshot: Callable[[], PipelineSnapshot], recent: RecentFrames,
                 overlays: OverlayStore, identity: DaemonIdentity,
                 roster: ModelRoster) -> None:
        self._snapshot = snapshot
        self.recent = recent
        self._overlays = overlays
        self._identity = identity
        self._roster = roster

    def health(self) -> Health:
        return health(self._snapshot())

    def readiness(self) -> Readiness:
        return readiness(self._snapshot())

    def status(self) -> dict[str, Any]:
        snap = self._snapshot()
        me = self._identity
        ready = readiness(snap)
        now = time.time()
        feeds = {}
        for feed in snap.feeds:
            t_obs = snap.last_observation.get(feed.name)
            feeds[feed.name] = {
                "kind": feed.kind, "stale": feed.stale, "seen": feed.seen,
                "last_seen": feed.last_seen,
                "last_seen_age_s": round(now - feed.last_seen, 1) if feed.last_seen else None,
                "last_observation": t_obs,
                "last_observation_age_s": round(now - t_obs, 1) if t_obs else None}
        backend, pub = snap.backend, snap.publisher
        return {
            "version": monitor.__version__,
            "instance": me.instance,
            "mode": me.mode,
            "time": now,
            "uptime_s": round(time.monotonic() - me.started, 1),
            # the status page's header shows degraded states (a stale feed, Kafka not
            # acknowledging), not only ready / not ready
            "ready": ready.ready,
            "degraded": list(ready.degraded),
            "warnings": list(ready.warnings),
            "counts": dict(snap.counts),
            "feeds": feeds,
            "backend": {"active": backend.active, "target": backend.target,
                        "precision": backend.precision, "degraded": backend.degraded,
                        "engine_build": backend.engine_build, "detail": backend.detail},
            "model": snap.model.to_dict(),
            "model_switch": snap.model_switch.to_dict() if snap.model_switch else None,
            "publisher": {"connected": pub.connected, "pending": pub.pending,
                          "oldest_age_s": pub.oldest_age_s, "last_error": pub.last_error,
                          "producer_generation": pub.producer_generation},
            "queues": {"arrivals": snap.arrivals, "frames": snap.frames_queued,
                       "open_frames": snap.open_frames},
            "alerts_active": snap.alerts_active,
            "recent": {"frames": len(self.recent)},
            "goes": snap.goes,
        }

    def _detail(self, record: FrameRecord | None) -> dict[str, Any] | None:
        if record is None:
            return None
        has_png = record.frame_id in self._overlays
        return {**record.frame, "seq": record.seq, "feed": record.feed,
                "saliency": record.saliency,
                "overlay_url": f"/api/v1/saliency/{record.frame_id}.png" if has_png else None}

    def latest_frame(self) -> dict[str, Any] | None:
        return self._detail(self.recent.latest())

    def frame(self, frame_id: str) -> dict[str, Any] | None:
        return self._detail(self.recent.get(frame_id))

    def frames(self, limit: int, before: int | None) -> Page:
        records, nxt = self.recent.frames(limit, before)
        return Page([r.summary() for r in records], nxt)

    def alerts(self, limit: int, before: int | None) -> Page:
        return Page(*self.recent.alerts(limit, before))

    def open_alerts(self) -> list[dict[str, Any]]:
        return self.recent.open_alerts()

    def channels(self) -> list[dict[str, Any]]:
        return self.recent.channels()

    def history(self, window_s: float, points: int) -> dict[str, Any]:
        return self.recent.history(window_s, points)

    def models(self) -> dict[str, Any]:
        return self._roster.to_dict()

    async def saliency_png(self, frame_id: str) -> bytes | None:
        return await self._overlays.png(frame_id)
