"""``sdo-monitor train``: train, evaluate and package a model from a YAML config.

Examples::

    sdo-monitor train --config config/train-default.yaml
    sdo-monitor train --config my.yaml --out runs/try1 --epochs 3
    # SDOML v2 from the public bucket: what would be used, without training
    sdo-monitor train -c config/train-sdoml-v2.yaml --dry-run
    # the shipped default package (writes monitor/models/default/):
    sdo-monitor train --config config/train-default.yaml --install-default
    # several processes (DDP, gloo on CPU): the same entry point under torchrun
    torchrun --nproc_per_node 2 --no-python sdo-monitor train --config my.yaml
    torchrun --nproc_per_node 2 -m monitor.train --config my.yaml

Exit codes: 0 done (package written; the targets table goes to stderr), 4
with ``--require-targets`` when an acceptance target is missed (the package is
written anyway), 3 invalid config, 2 unusable ``--reality`` report, 1 failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from monitor.train.settings import TrainConfig
from monitor.typedyaml import override

__all__ = ["EXIT_TARGETS_MISSED", "add_subparser", "load_config", "main"]

EXIT_TARGETS_MISSED = 4


def load_config(path: Path) -> tuple[TrainConfig, str]:
    """Validate a training YAML file; returns the ``TrainConfig`` and the file's text.

    Raises
    ------
    monitor.typedyaml.ConfigError
        Naming the YAML path of every problem.
    """
    from monitor.typedyaml import build, load_yaml

    data, marks = load_yaml(Path(path))
    config = build(TrainConfig, data, str(path), marks)
    return config, Path(path).read_text(encoding="utf-8")


def add_subparser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train", help="train, evaluate and package a flare/EVE model",
        description="Train the flare-class and EVE network from a YAML config (synthetic Sun, "
                    "SDOML v2/v1 with GOES labels, or a directory of gridded frames), evaluate it on held-out data and write a "
                    "model package. Under torchrun the same command trains with DDP.")
    parser.add_argument("--config", "-c", type=Path, required=True, help="training YAML")
    parser.add_argument("--out", type=Path, default=None, help="override out_dir")
    parser.add_argument("--package-out", type=Path, default=None,
                        help="override package_dir (default out_dir/package)")
    parser.add_argument("--install-default", action="store_true",
                        help="write the package to the shipped default location "
                             "(monitor/models/default)")
    parser.add_argument("--epochs", type=int, default=None, help="override training.epochs")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="override training.max_minutes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--evaluate", type=Path, default=None, metavar="PACKAGE",
                        help="train nothing: evaluate an already trained package on the "
                             "config's file-path check and on --fresh-samples Suns of "
                             "--fresh-seed, and rewrite its card, report and metrics")
    parser.add_argument("--fresh-seed", type=int, default=505,
                        help="seed of the untouched check (with --evaluate)")
    parser.add_argument("--fresh-samples", type=int, default=800,
                        help="Suns in the untouched check (with --evaluate; 0 skips it)")
    parser.add_argument("--reality", type=Path, default=None, metavar="REPORT_JSON",
                        help="with --evaluate: a reality_report.json written by "
                             "'sdo-monitor reality --package' for this package; its table "
                             "goes into the package's metrics.json and MODEL_CARD.md")
    parser.add_argument("--dry-run", action="store_true",
                        help="train nothing: index and align the data, print one JSON line "
                             '{"aligned", "train", "val", "test", "channels", "first", '
                             '"last"} and exit')
    parser.add_argument("--require-targets", action="store_true",
                        help=f"exit {EXIT_TARGETS_MISSED} when a held-out target is missed")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; returns the exit code."""
    from monitor.models.layout import default_package_path
    from monitor.sdoml.store import StoreError

    config, text = load_config(args.config)
    package_dir = default_package_path() if args.install_default else args.package_out
    config = override(config, {
        "out_dir": args.out, "package_dir": package_dir, "training.epochs": args.epochs,
        "training.max_minutes": args.max_minutes,
        "training.progress": False if args.no_progress else None})
    try:
        return _run(args, config, text)
    except StoreError as exc:
        # A data set that does not follow its layout: one line naming store and key.
        print(f"sdo-monitor train: data: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, config: TrainConfig, text: str) -> int:
    if args.dry_run:
        from monitor.train.loading import dry_run

        print(json.dumps(dry_run(config)))
        return 0
    if args.reality is not None and args.evaluate is None:
        print("sdo-monitor train: --reality needs --evaluate PACKAGE", file=sys.stderr)
        return 2
    if args.evaluate is not None:
        from monitor.reality.report import ReportError, read_report
        from monitor.train.pipeline import evaluate_package

        try:
            reality = read_report(args.reality) if args.reality is not None else None
        except ReportError as exc:
            print(f"sdo-monitor train: --reality: not a reality report ({exc.reason}): {exc}",
                  file=sys.stderr)
            return 2
        metrics = evaluate_package(config, args.evaluate, text,
                                   args.fresh_seed, args.fresh_samples, reality)
    else:
        from monitor.train.pipeline import run_training

        metrics = run_training(config, text)
    if metrics is None:
        return 0
    for row in metrics["targets"]:
        print(f"{'ok  ' if row['met'] else 'MISS'} {row['target']}: {row['value']} "
              f"(goal {row['goal']})", file=sys.stderr)
    print(json.dumps({"package": str(config.package_path),
                      "targets_met": metrics["targets_met"]}))
    if args.require_targets and not metrics["targets_met"]:
        return EXIT_TARGETS_MISSED
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m monitor.train``: the same command without the top-level CLI."""
    from monitor.logs import setup_logging
    from monitor.typedyaml import ConfigError

    parser = argparse.ArgumentParser(prog="python -m monitor.train")
    sub = parser.add_subparsers(dest="command", required=True)
    add_subparser(sub)
    args = parser.parse_args(["train", *(argv if argv is not None else sys.argv[1:])])
    setup_logging(level="INFO", fmt="keyvalue", verbose=0)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"invalid configuration:\n{exc.render()}", file=sys.stderr)
        return 3
