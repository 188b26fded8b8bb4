"""``sdo-monitor verify``: score a replayed period against GOES and write a report.

Frames come from a JSON-lines file of ``frame.analyzed`` messages (as the
daemon publishes them on ``<prefix>.frames``; other types are skipped) or
from a Kafka topic read from its beginning; GOES from files (SWPC JSON,
NCEI netCDF, anything sunpy reads as GOES XRS) or one fetch of an SWPC-style
JSON URL::

    sdo-monitor verify --frames frames.jsonl --goes go1520110607.fits --out report/
    sdo-monitor verify --kafka-topic ops.frames --bootstrap kafka:9092 \\
        --goes-url https://services.swpc.noaa.gov/json/goes/primary/xrays-7-day.json
    sdo-monitor verify --config /etc/sdo-monitor/config.yaml --frames f.jsonl --goes d/*.nc

Writes ``verify_report.json`` and ``verify_report.md`` into ``--out``.

``--compare A B`` scores two packages instead, each named ``name:version``
(or by a sha256 prefix), from ``frame.analyzed`` and ``frame.shadow``
messages (several files or topics may be given, e.g. ``<prefix>.frames`` and
``<prefix>.frames.shadow`` of a daemon running B as a shadow of A), and
states whether ``TSS(B) - TSS(A)`` is significant (a seeded paired block
bootstrap, :mod:`monitor.goes.compare`)::

    sdo-monitor verify --compare flare-eve:1.2.0 flare-eve:1.3.0 \\
        --kafka-topic ops.frames --kafka-topic ops.frames.shadow --bootstrap kafka:9092 \\
        --goes-url https://services.swpc.noaa.gov/json/goes/primary/xrays-7-day.json

It writes ``compare_report.json`` and ``compare_report.md``.
Exit codes: 0 report written, 2 unusable input (no frames, no GOES data,
unreadable file, unreachable URL or broker, a package not in the input).
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from monitor.goes.settings import DetectionSettings, GoesSettings
from monitor.logs import get_logger
from monitor.publish.settings import KafkaSettings
from monitor.typedyaml import override

__all__ = ["EXIT_BAD_INPUT", "add_subparser", "run_verify"]

log = get_logger(__name__)

EXIT_BAD_INPUT = 2


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``verify`` subcommand."""
    p = subparsers.add_parser(
        "verify", help="score a replayed period against GOES X-rays and write a report",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    frames = p.add_mutually_exclusive_group(required=True)
    frames.add_argument("--frames", type=Path, nargs="+",
                        help="JSON-lines file(s) of frame.analyzed (and, with --compare, "
                             "frame.shadow) messages")
    frames.add_argument("--kafka-topic", action="append",
                        help="topic of frame messages (<prefix>.frames; repeatable)")
    p.add_argument("--bootstrap", action="append", default=[],
                   help="Kafka host:port (repeatable; default: the config's cluster)")
    goes = p.add_mutually_exclusive_group(required=True)
    goes.add_argument("--goes", type=Path, nargs="+", help="GOES XRS files")
    goes.add_argument("--goes-url", help="SWPC-style X-ray JSON URL, fetched once")
    p.add_argument("--config", type=Path, help="daemon config: its goes and kafka sections")
    p.add_argument("--flux-scale", type=float,
                   help="factor to class-scale flux (default: by file kind; 0.7 for GOES-13/15 "
                        "science data; 1.0 for SWPC JSON)")
    p.add_argument("--horizon-s", type=float, help="truth window length after t_obs")
    p.add_argument("--decision", choices=("probability", "predicted_class"))
    p.add_argument("--probability-threshold", type=float)
    p.add_argument("--out", type=Path, default=Path("."), help="report directory (default .)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"),
                   help="compare two packages (name:version or sha256 prefix)")
    p.add_argument("--resamples", type=int, default=2000,
                   help="--compare: bootstrap resamples (default 2000)")
    p.add_argument("--block-s", type=float, default=3600.0,
                   help="--compare: bootstrap block length in seconds of observation time "
                        "(default 3600: frames within a block are not independent)")
    p.add_argument("--seed", type=int, default=0, help="--compare: bootstrap seed (default 0)")
    p.set_defaults(func=run_verify)


def _settings(args: argparse.Namespace) -> tuple[GoesSettings, KafkaSettings | None]:
    goes, kafka = GoesSettings(), None
    if args.config is not None:
        from monitor.config import load_config

        config = load_config(args.config)
        goes, kafka = config.goes, config.kafka
    goes = override(goes, {"verification.horizon_s": args.horizon_s,
                           "verification.decision": args.decision,
                           "verification.probability_threshold": args.probability_threshold})
    return goes, kafka


def _read_goes(args: argparse.Namespace, goes: GoesSettings) -> tuple[list[Any], float,
                                                                        dict[str, Any]]:
    from monitor.goes.files import read_goes_files
    from monitor.goes.swpc import SwpcPoller, parse_swpc

    if args.goes:
        day = read_goes_files(list(args.goes), args.flux_scale)
        return day.samples, day.flux_scale, {
            "goes": [str(p) for p in args.goes], "goes_kind": day.kind,
            "flux_scale": day.flux_scale, "goes_minutes": len(day.samples),
            "goes_refused": dict(day.counts)}
    feed = override(goes.feed, {"url": args.goes_url, "flux_scale": args.flux_scale})
    scale = feed.flux_scale

    async def fetch() -> Any:
        async with SwpcPoller(feed) as poller:
            return await poller.fetch()

    result = asyncio.run(fetch())
    if result.outcome != "ok":
        raise ValueError(f"GOES URL: {result.reason} {result.detail}".strip())
    parsed = parse_swpc(result.document, scale)
    return parsed.samples, scale, {"goes_url": args.goes_url, "goes_kind": "swpc_json",
                                   "flux_scale": scale, "goes_minutes": len(parsed.samples),
                                   "goes_refused": dict(parsed.counts)}


def run_verify(args: argparse.Namespace) -> int:
    """Run ``sdo-monitor verify``; returns the exit code."""
    from monitor.goes.report import (
        SERVED,
        SERVED_AND_SHADOW,
        read_frames_jsonl,
        read_frames_kafka,
        score_period,
        write_report,
    )

    types = SERVED_AND_SHADOW if args.compare else SERVED
    try:
        if args.compare and (args.resamples < 1 or not args.block_s > 0):
            raise ValueError("--resamples must be >= 1 and --block-s > 0")
        goes, kafka = _settings(args)
        skipped: Counter[str] = Counter()
        if args.frames is not None:
            frames = [f for path in args.frames
                      for f in read_frames_jsonl(path, skipped, types)]
            source: dict[str, Any] = {"frames": [str(p) for p in args.frames]}
        else:
            options = _kafka_options(args, kafka)
            frames = [f for topic in args.kafka_topic
                      for f in read_frames_kafka(options, topic, skipped, types=types)]
            source = {"kafka_topic": list(args.kafka_topic)}
        samples, scale, goes_inputs = _read_goes(args, goes)
    except (OSError, ValueError, TimeoutError) as exc:
        log.error("verify: unusable input", error=str(exc))
        print(f"error: {exc}")
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - e.g. kafka errors: report, do not trace back
        log.error("verify failed", error=repr(exc))
        print(f"error: {exc!r}")
        return EXIT_BAD_INPUT
    if not frames:
        print(f"error: no frame.analyzed messages found (skipped: {dict(skipped)})")
        return EXIT_BAD_INPUT
    if not samples:
        print("error: no usable GOES data")
        return EXIT_BAD_INPUT
    detection: DetectionSettings = goes.detection
    if args.compare:
        return _compare(args, frames, samples, goes, scale)
    report = score_period(frames, samples, goes.verification, detection, scale)
    report.inputs = {**source, "frames_read": len(frames), "frames_skipped": dict(skipped),
                     **goes_inputs}
    out = Path(args.out)
    write_report(report, out / "verify_report.json", out / "verify_report.md")
    rows = report.period_rows()
    summary = ", ".join(f">={r['threshold']} TSS {_num(r['tss'])} HSS {_num(r['hss'])}"
                        for r in rows)
    print(f"{report.outcomes.get('scored', 0)} of {len(frames)} frames scored; {summary}; "
          f"report in {out}/verify_report.md")
    return 0


def _compare(args: argparse.Namespace, frames: list[Any], samples: list[Any],
             goes: GoesSettings, scale: float) -> int:
    from monitor.goes.compare import compare_packages, write_comparison

    a, b = args.compare
    try:
        result = compare_packages(frames, samples, a, b, goes.verification, goes.detection,
                                  scale, resamples=args.resamples, block_s=args.block_s,
                                  seed=args.seed)
    except ValueError as exc:
        print(f"error: {exc}")
        return EXIT_BAD_INPUT
    out = Path(args.out)
    write_comparison(result, out / "compare_report.json", out / "compare_report.md")
    for d in result.differences:
        low, high = _num(d.low), _num(d.high)
        print(f">={d.threshold}: TSS {result.a} {_num(d.a.tss)}, {result.b} {_num(d.b.tss)}, "
              f"B - A {_num(d.difference)} (95 % [{low}, {high}], {d.frames} frames): "
              f"{d.verdict}")
    print(f"report in {out}/compare_report.md")
    return 0


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _kafka_options(args: argparse.Namespace, kafka: Any) -> dict[str, Any]:
    if kafka is not None:
        from monitor.publish.kafka_client import client_options

        return client_options(kafka, args.bootstrap or None)
    if not args.bootstrap:
        raise ValueError("--kafka-topic needs --bootstrap or a --config with a Kafka cluster")
    return {"bootstrap_servers": list(args.bootstrap), "client_id": "sdo-monitor-verify"}
