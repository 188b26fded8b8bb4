"""``sdo-monitor check-config FILE``: validate a config before (re)starting the service."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import yaml

from monitor.config import ConfigError, load_config
from monitor.preflight import config_warnings, file_problems, secret_problems
from monitor.typedyaml import ConfigIssue

__all__ = ["add_subparser", "as_plain_data", "check_config"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "check-config", help="validate a configuration file and exit",
        description="Validate a YAML configuration and the files it names on this host "
                    "(Kafka CA, certificates, secret files, model package, path roots). "
                    "Prints every problem with its YAML path and line; exits 0 when valid, "
                    "3 when not.")
    parser.add_argument("file", type=Path, help="YAML file, e.g. /etc/sdo-monitor/config.yaml")
    parser.add_argument("--show", action="store_true",
                        help="print the effective configuration, defaults included")
    parser.add_argument("--require-secrets", action="store_true",
                        help="also fail when a secret's environment variable or file is missing "
                             "(use where the service's environment is present)")
    parser.add_argument("--syntax-only", action="store_true",
                        help="check the document only, not the files and secrets it names "
                             "(for a config repository's CI, away from the target host)")
    parser.add_argument("--allow-no-feeds", action="store_true",
                        help="accept a config without feeds (replay reads its own directory)")
    parser.set_defaults(func=check_config)


def as_plain_data(value: Any) -> Any:
    """Dataclasses, tuples and paths to YAML-friendly plain data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_plain_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [as_plain_data(v) for v in value]
    if isinstance(value, dict):
        return {str(k): as_plain_data(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def check_config(args: argparse.Namespace) -> int:
    config = load_config(args.file)  # ConfigError -> exit 3 in cli.main
    errors = [] if args.syntax_only else file_problems(config)
    if not config.feeds and not args.allow_no_feeds:
        errors.append(ConfigIssue("feeds", "no feeds: the daemon would watch nothing (pass "
                                           "--allow-no-feeds for a replay-only config)"))
    secrets = [] if args.syntax_only else secret_problems(config)
    if args.require_secrets:
        errors += secrets
    else:
        for issue in secrets:
            print(f"{args.file}: warning: {issue} (needed at run time)", file=sys.stderr)
    for issue in config_warnings(config):
        print(f"{args.file}: warning: {issue}", file=sys.stderr)
    if errors:
        raise ConfigError(errors, str(args.file))  # one verdict: exit 3, no "OK"
    if args.show:
        yaml.safe_dump(as_plain_data(config), sys.stdout, sort_keys=False)
    kafka = ("local broker" if config.kafka.uses_local_broker
             else ",".join(config.kafka.bootstrap_servers))
    print(f"{args.file}: OK ({len(config.feeds)} feeds, kafka: {kafka}, "
          f"http: {config.http.host}:{config.http.port})")
    return 0
