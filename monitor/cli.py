"""``sdo-monitor``: the command-line entry point.

Exit codes (also in the README; systemd's ``RestartPreventExitStatus`` uses 3):

=====  =====================================================================
0      success
1      failed at run time (broker unreachable, I/O error, ...)
2      bad command line (argparse)
3      invalid configuration (every problem is printed with its YAML path)
130    interrupted (Ctrl-C)
=====  =====================================================================

Each subcommand lives with its area (``monitor/<area>/command.py``) and
exposes ``add_subparser(subparsers)``; this module only collects them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import monitor
from monitor.config import ConfigError
from monitor.logs import get_logger, setup_logging

__all__ = ["EXIT_CONFIG", "EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "build_parser", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 3
EXIT_INTERRUPTED = 130

log = get_logger("monitor.cli")

#: Modules that contribute subcommands, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "monitor.commands.run",
    "monitor.commands.replay",
    "monitor.commands.demo",
    "monitor.commands.check_config",
    "monitor.commands.inspect",
    "monitor.synth.command",
    "monitor.train.command",
    "monitor.models.command",
    "monitor.models.declare",
    "monitor.commands.promote",
    "monitor.inference.command",
    "monitor.goes.command",
    "monitor.reality.command",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="sdo-monitor",
        description="Near-real-time SDO/AIA monitor: flare classes, virtual-EVE irradiance "
                    "and saliency to Kafka and Prometheus.",
        epilog="Exit codes: 0 ok, 1 run-time failure, 2 usage, 3 invalid config, "
               "130 interrupted.")
    parser.add_argument("--version", action="version",
                        version=f"sdo-monitor {monitor.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-v debug, -vv also Kafka client debug)")
    parser.add_argument("--log-format", choices=("keyvalue", "json"), default=None,
                        help="override logging.format from the config")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_subparser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(level="INFO", fmt=args.log_format or "keyvalue", verbose=args.verbose)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        # one problem, one line (what journald and a CI log show best)
        sep = " " if len(exc.issues) == 1 else "\n"
        print(f"sdo-monitor: invalid configuration:{sep}{exc.render()}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # the operator gets one line, -v the traceback
        log.error("failed", exc_info=args.verbose > 0, command=args.command,
                  error=f"{type(exc).__name__}: {exc}")
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
