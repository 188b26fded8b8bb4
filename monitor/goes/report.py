"""Offline verification of a replayed period: frames + GOES in, a report (JSON, markdown) out.

The scoring is the live scoring (:class:`~monitor.goes.verify.Verifier`),
run over the whole period at once: every GOES sample first (so truth is
complete), then every frame, then a flush. The report holds the table of
the whole period per threshold, the rolling windows as the live gauges
would show them at the end of the period, what became of every frame, and
each GOES event with the frames taken during it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import monitor
from monitor.goes.detect import EventUpdate, GoesEvent, detect_flares
from monitor.goes.events import event_payload
from monitor.goes.samples import FluxSeries, GoesSample, utc
from monitor.goes.scores import ScoredPair, pairs_table
from monitor.goes.settings import DetectionSettings, VerificationSettings
from monitor.goes.swpc import parse_time_tag
from monitor.goes.verify import Verifier

__all__ = ["SERVED", "SERVED_AND_SHADOW", "FrameRecord", "VerificationReport",
           "frames_from_events", "markdown", "read_frames_jsonl", "read_frames_kafka",
           "score_period", "write_pair", "write_report"]

#: The message types whose frames can be scored: the serving package's, and the
#: shadow packages' (read only when asked, e.g. by ``verify --compare``).
SERVED = ("org.sdo-monitor.frame.analyzed.",)
SERVED_AND_SHADOW = ("org.sdo-monitor.frame.analyzed.", "org.sdo-monitor.frame.shadow.")


@dataclass(frozen=True)
class FrameRecord:
    """The parts of a ``frame.analyzed`` message that verification needs."""

    frame_id: str
    t_obs: float
    class_probabilities: dict[str, float] | None
    predicted_class: str | None
    #: The package that produced it (``name:version``) and its sha256, when named.
    package: str | None = None
    sha256: str | None = None


def _package(data: dict[str, Any]) -> tuple[str | None, str | None]:
    model = data.get("model")
    if not isinstance(model, dict):
        return None, None
    name, version, sha = model.get("name"), model.get("version"), model.get("sha256")
    label = f"{name}:{version}" if isinstance(name, str) and isinstance(version, str) else None
    return label, sha if isinstance(sha, str) else None


def frames_from_events(items: Iterable[Any], skipped: Counter[str],
                       types: tuple[str, ...] = SERVED) -> Iterator[FrameRecord]:
    """Frame records from CloudEvents of ``types`` (type prefixes) or bare ``data``
    objects; others are counted."""
    for item in items:
        if not isinstance(item, dict):
            skipped["not_an_object"] += 1
            continue
        data = item
        if "specversion" in item:
            if not str(item.get("type", "")).startswith(types):
                skipped["other_type"] += 1
                continue
            data = item.get("data")
            if not isinstance(data, dict):
                skipped["no_data"] += 1
                continue
        t_obs = parse_time_tag(data.get("t_obs"))
        frame_id = data.get("frame_id")
        if t_obs is None or not isinstance(frame_id, str):
            skipped["missing_fields"] += 1
            continue
        probs = data.get("class_probabilities")
        probs = ({str(k): float(v) for k, v in probs.items() if isinstance(v, int | float)}
                 if isinstance(probs, dict) else None)
        predicted = data.get("predicted_class")
        yield FrameRecord(frame_id, t_obs, probs,
                          predicted if isinstance(predicted, str) else None, *_package(data))


def read_frames_jsonl(path: Path, skipped: Counter[str],
                      types: tuple[str, ...] = SERVED) -> list[FrameRecord]:
    """Frames of a JSON-lines file (one CloudEvent or data object per line)."""
    def lines() -> Iterator[Any]:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except ValueError:
                    skipped["bad_json"] += 1
    return list(frames_from_events(lines(), skipped, types))


def read_frames_kafka(options: Mapping[str, Any], topic: str, skipped: Counter[str],
                      timeout_s: float = 30.0,
                      types: tuple[str, ...] = SERVED) -> list[FrameRecord]:
    """Every frame on a topic, from the beginning to the end offsets at the start (no group)."""
    import time

    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**options, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not assigned:
            raise ValueError(f"topic {topic!r} does not exist or has no partitions")
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        end = consumer.end_offsets(assigned)
        values: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in assigned):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic!r} took longer than {timeout_s} s")
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    try:
                        values.append(json.loads(record.value))
                    except (ValueError, TypeError):
                        skipped["bad_json"] += 1
    finally:
        consumer.close()
    return list(frames_from_events(values, skipped, types))


@dataclass
class VerificationReport:
    """The result of :func:`score_period` (``to_dict`` is the JSON report)."""

    settings: VerificationSettings
    pairs: list[ScoredPair]
    rolling: list[dict[str, Any]]
    outcomes: Counter[str]
    events: list[GoesEvent]
    frames: list[FrameRecord]
    inputs: dict[str, Any] = field(default_factory=dict)

    def period_rows(self) -> list[dict[str, Any]]:
        return [{"threshold": t, **pairs_table(self.pairs, i).to_dict()}
                for i, t in enumerate(self.settings.thresholds)]

    def event_rows(self) -> list[dict[str, Any]]:
        rows = []
        thresholds = self.settings.thresholds
        for event in self.events:
            if event.goes_class[0] not in ("C", "M", "X"):
                continue  # A/B events are below every threshold
            end = event.end_time if event.end_time is not None else event.last_time
            inside = [p for p in self.pairs if event.begin_time <= p.t_obs < end + 60.0]
            letter = event.goes_class[0]
            index = thresholds.index(letter) if letter in thresholds else None
            detected = (sum(1 for p in inside if p.predicted[index]) if index is not None
                        else None)
            payload = event_payload(EventUpdate("end", event))
            rows.append({"event_id": event.event_id, "goes_class": event.goes_class,
                         "noaa_scale": event.noaa_scale, "begin_time": payload["begin_time"],
                         "peak_time": payload["peak_time"], "end_time": payload["end_time"],
                         "frames": len(inside), "frames_predicting_class": detected})
        return rows

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        times = [f.t_obs for f in self.frames]
        return {
            "generated_by": "sdo-monitor verify", "version": monitor.__version__,
            "period": {"start": _iso(min(times)) if times else None,
                       "end": _iso(max(times)) if times else None},
            "inputs": self.inputs,
            "settings": {"thresholds": list(s.thresholds), "horizon_s": s.horizon_s,
                         "decision": s.decision, "probability_threshold": s.probability_threshold,
                         "min_coverage": s.min_coverage, "windows_s": dict(s.windows_s)},
            "predictions": dict(sorted(self.outcomes.items())),
            "period_scores": self.period_rows(),
            "rolling_scores_at_end": self.rolling,
            "goes_events": self.event_rows(),
        }


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else utc(seconds).isoformat().replace("+00:00", "Z")


def score_period(frames: Sequence[FrameRecord], samples: Sequence[GoesSample],
                 settings: VerificationSettings | None = None,
                 detection: DetectionSettings | None = None,
                 flux_scale: float = 1.0) -> VerificationReport:
    """Score frames against GOES samples exactly as the live verifier would."""
    settings = settings or VerificationSettings()
    ordered = sorted(samples, key=lambda s: s.time)
    span = (ordered[-1].time - ordered[0].time) if ordered else 0.0
    series = FluxSeries(history_s=span + 86400.0)
    for sample in ordered:
        series.add(sample)
    # the rolling store forgets pairs older than its longest window; the period
    # table needs every pair, so collect them as they are scored
    pairs: list[ScoredPair] = []
    verifier = Verifier(settings, series, clock=lambda: 0.0, on_scored=pairs.append)
    for frame in sorted(frames, key=lambda f: f.t_obs):
        verifier.observe(frame.frame_id, frame.t_obs, frame.class_probabilities,
                         frame.predicted_class)
    verifier.resolve()
    verifier.flush()
    events = detect_flares(ordered, detection, "goes", flux_scale)
    outcomes = Counter(verifier.counts)
    rolling = [row.to_dict() for row in verifier.scores.rows()]
    pairs.sort(key=lambda p: p.t_obs)
    return VerificationReport(settings, pairs, rolling, outcomes, events, list(frames))


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown(report: VerificationReport) -> str:
    """The report as a markdown page."""
    d = report.to_dict()
    out = ["# GOES verification report", "",
           (f"Period (frames' observation times): {d['period']['start']} to "
            f"{d['period']['end']}."), "",
           f"Truth: max class-scale GOES XRS-B 1-minute flux over [t_obs, t_obs + "
           f"{report.settings.horizon_s:g} s]; decision: {report.settings.decision}"
           + (f" (P >= {report.settings.probability_threshold:g})"
              if report.settings.decision == "probability" else "") + ".", "",
           "## Predictions", "", "| outcome | frames |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in d["predictions"].items()]
    out += ["", "## Whole period", "",
            ("| threshold | hits | misses | false alarms | correct negatives "
             "| TSS | HSS | POD | FAR |"),
            "|---|---|---|---|---|---|---|---|---|"]
    for r in d["period_scores"]:
        out.append(f"| >= {r['threshold']} | {r['hits']} | {r['misses']} | {r['false_alarms']} "
                   f"| {r['correct_negatives']} | {_fmt(r['tss'])} | {_fmt(r['hss'])} "
                   f"| {_fmt(r['pod'])} | {_fmt(r['far'])} |")
    out += ["", "## Rolling windows at the end of the period", "",
            "| threshold | window | n | TSS | HSS |", "|---|---|---|---|---|"]
    for r in d["rolling_scores_at_end"]:
        out.append(f"| >= {r['threshold']} | {r['window']} | {r['n']} | {_fmt(r['tss'])} "
                   f"| {_fmt(r['hss'])} |")
    out += ["", "## GOES events", ""]
    if d["goes_events"]:
        out += ["| event | class | R | begin | peak | end | frames | predicting its class |",
                "|---|---|---|---|---|---|---|---|"]
        for e in d["goes_events"]:
            out.append(f"| {e['event_id']} | {e['goes_class']} | {e['noaa_scale'] or '–'} "
                       f"| {e['begin_time']} | {e['peak_time']} | {e['end_time'] or 'running'} "
                       f"| {e['frames']} | {_fmt(e['frames_predicting_class'])} |")
    else:
        out.append("No GOES events in the period.")
    out += ["", "## Inputs", "", "```json", json.dumps(d["inputs"], indent=2), "```", ""]
    return "\n".join(out)


def write_report(report: VerificationReport, json_path: Path, markdown_path: Path) -> None:
    """Write the JSON and markdown reports (directories created)."""
    write_pair(report.to_dict(), markdown(report), json_path, markdown_path)


def write_pair(doc: dict[str, Any], text: str, json_path: Path, markdown_path: Path) -> None:
    """``doc`` as strict JSON (no NaN) and ``text`` as markdown, directories created."""
    for path in (json_path, markdown_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    markdown_path.write_text(text, encoding="utf-8")

