"""``sdo-monitor reality``: measure the synthetic Sun against real SDO and GOES data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.synth.worlds import world_names

__all__ = ["add_subparser", "run_reality"]


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``reality`` subcommand."""
    parser = subparsers.add_parser(
        "reality", help="compare the synthetic Sun with real EVE, AIA, GOES and SDOML data",
        description="Measure one world of the synthetic Sun against real observations: EVE "
                    "line quiet levels and flare responses, AIA region responses to real "
                    "flares with their GOES days, SDOML v2 full-disk statistics. Prints the "
                    "table and writes reality_report.json, reality_report.md and figures.")
    parser.add_argument("--real-data", type=Path, required=True,
                        help="folder of real observations (eve_megsa_flares.npz, "
                             "aia_region_lightcurves/, sdomlv2_stats/)")
    parser.add_argument("--goes-data", type=Path, default=None,
                        help="folder with the GOES days of the region flares "
                             "(default: REAL_DATA/../goes)")
    parser.add_argument("--out", type=Path, required=True, help="report folder")
    parser.add_argument("--world", choices=world_names(), default="v2",
                        help="synthetic world to measure (default: %(default)s)")
    parser.add_argument("--package", type=Path, default=None,
                        help="also compare this model package's predictions on the world")
    parser.add_argument("--quiet-samples", type=_count, default=200,
                        help="flare-free synthetic Suns for the quiet levels (default: 200)")
    parser.add_argument("--flares-per-class", type=_count, default=100,
                        help="synthetic flares per GOES class bin C, M, X (default: 100)")
    parser.add_argument("--disk-samples", type=_count, default=12,
                        help="synthetic full-disk frames rendered (default: 12)")
    parser.add_argument("--package-samples", type=_count, default=64,
                        help="flare-free Suns shown to --package (default: 64)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic draws (default: 0)")
    parser.set_defaults(func=run_reality)


def run_reality(args: argparse.Namespace) -> int:
    """Run the subcommand; 0 done (targets met or not), 1 real data unreadable."""
    from monitor.reality.build import Counts, build_report
    from monitor.reality.figures import write_figures
    from monitor.reality.real import RealDataError
    from monitor.reality.report import format_table, summary, write_report
    from monitor.synth.worlds import get_world

    real_dir = args.real_data
    goes_dir = args.goes_data or real_dir.parent / "goes"
    if not real_dir.is_dir():
        print(f"sdo-monitor reality: {real_dir}: not a folder", file=sys.stderr)
        return 2
    counts = Counts(quiet=args.quiet_samples, flares_per_bin=args.flares_per_class,
                    disk=args.disk_samples, package=args.package_samples, seed=args.seed)
    try:
        report = build_report(real_dir, goes_dir, get_world(args.world), counts, args.package)
    except RealDataError as exc:
        print(f"sdo-monitor reality: real data unreadable ({exc.reason}): {exc}",
              file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    figures = write_figures(report, args.out)
    settings = {"world": args.world, "real_data": str(real_dir), "goes_data": str(goes_dir),
                "package": str(args.package) if args.package else None,
                "quiet_samples": counts.quiet, "flares_per_class": counts.flares_per_bin,
                "disk_samples": counts.disk, "package_samples": counts.package,
                "seed": counts.seed}
    json_path, md_path = write_report(args.out, report.rows, report.world, report.notes,
                                      figures, settings)
    print(format_table(report.rows))
    print(f"\nworld {report.world}: {summary(report.rows)}; wrote {json_path}, {md_path} and "
          f"{len(figures)} figures", flush=True)
    return 0
