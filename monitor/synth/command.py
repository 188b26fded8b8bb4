"""``sdo-monitor synth``: write a synthetic AIA feed into a spool directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.synth.settings import SIZES
from monitor.synth.worlds import DEFAULT_WORLD, world_names

__all__ = ["add_subparser", "run_synth"]

_CHANNELS = (94, 131, 171, 193, 211, 304, 335)


def _channels(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 94,131,171, got {text!r}") from None
    bad = [v for v in values if v not in _CHANNELS]
    if bad or not values:
        raise argparse.ArgumentTypeError(f"channels must be among {_CHANNELS}, got {text!r}")
    return values


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``synth`` subcommand."""
    parser = subparsers.add_parser(
        "synth", help="write a synthetic AIA level-1 feed with ground truth",
        description="Play a scenario of the synthetic Sun into a spool directory the way the "
                    "AIA feed arrives: RICE-compressed level-1 FITS files, channels a few "
                    "seconds apart, each renamed into place when complete, plus a JSON-lines "
                    "ground-truth sidecar (GOES class, EVE lines, flare kernels).")
    parser.add_argument("--scenario", default="demo",
                        help="shipped scenario name or path to a scenario YAML (default: demo)")
    parser.add_argument("--out", type=Path, help="spool directory to write into")
    parser.add_argument("--size", type=int, choices=SIZES, default=1024,
                        help="image size in px; 4096 is AIA full resolution (default: 1024)")
    parser.add_argument("--speed", type=_non_negative, default=60.0,
                        help="simulated seconds per second; 0 = as fast as possible "
                             "(default: 60)")
    parser.add_argument("--seed", type=int, default=None,
                        help="fix the run byte for byte (default: random, printed)")
    parser.add_argument("--duration", type=_positive, default=None,
                        help="override the scenario's duration, seconds")
    parser.add_argument("--cadence", type=_positive, default=None,
                        help="override the scenario's cadence, seconds")
    parser.add_argument("--channels", type=_channels, default=None,
                        help="comma-separated wavelengths (default: the scenario's)")
    parser.add_argument("--truth", type=Path, default=None,
                        help="truth sidecar path (default: OUT/synth_truth.jsonl)")
    parser.add_argument("--pointing-offset", type=float, nargs=2, metavar=("DX", "DY"),
                        default=None, help="Sun-centre offset in full-resolution px "
                                           "(default: a few px, random)")
    parser.add_argument("--crota", type=float, default=None,
                        help="roll CROTA2 in degrees (default: 0.01-0.04, random)")
    parser.add_argument("--world", choices=world_names(), default=DEFAULT_WORLD,
                        help="calibration of the physics (default: %(default)s, the world the "
                             "shipped default model was trained on; see docs/reality.md)")
    parser.add_argument("--list-scenarios", action="store_true",
                        help="list the shipped scenarios and exit")
    parser.set_defaults(func=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    """Run the subcommand; returns the exit code (0 ok, 2 usage, 3 invalid scenario)."""
    from monitor.synth.feed import SynthFeed
    from monitor.synth.scenario import ScenarioError, list_scenarios, load_scenario

    if args.list_scenarios:
        for name in list_scenarios():
            scenario = load_scenario(name)
            print(f"{name:16s} {scenario.duration_s / 60:5.0f} min  {scenario.description}")
        return 0
    if args.out is None:
        print("sdo-monitor synth: --out DIR is required", file=sys.stderr)
        return 2
    try:
        feed = SynthFeed(args.scenario, args.out, size=args.size, speed=args.speed,
                         seed=args.seed, truth_path=args.truth, channels=args.channels,
                         duration_s=args.duration, cadence_s=args.cadence,
                         offset_px=tuple(args.pointing_offset) if args.pointing_offset else None,
                         crota2_deg=args.crota, world=args.world)
    except ScenarioError as exc:
        print(f"sdo-monitor synth: {exc}", file=sys.stderr)
        return 3
    print(f"synth: scenario {feed.scenario.name}, world {args.world}, seed {feed.seed}, "
          f"{len(feed.sun)} "
          f"observations of {len(feed.sun.channels)} channels at {args.size} px into "
          f"{args.out} (truth: {feed.truth_path})", flush=True)
    count = 0
    try:
        for _ in feed.run():
            count += 1
    except KeyboardInterrupt:
        feed.stop()
        print(f"synth: interrupted after {count} files", file=sys.stderr)
        return 130
    print(f"synth: wrote {count} files", flush=True)
    return 0
