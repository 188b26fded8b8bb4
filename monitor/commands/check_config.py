"""``sdo-monitor check-config FILE``: validate a config before (re)starting the service."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import yaml

from monitor.config import Config, ConfigError, load_config
from monitor.credentials import read_secret

__all__ = ["add_subparser", "as_plain_data", "check_config"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "check-config", help="validate a configuration file and exit",
        description="Validate a YAML configuration. Prints every problem with its YAML path "
                    "and line; exits 0 when valid, 3 when not.")
    parser.add_argument("file", type=Path, help="YAML file, e.g. /etc/sdo-monitor/config.yaml")
    parser.add_argument("--show", action="store_true",
                        help="print the effective configuration, defaults included")
    parser.add_argument("--require-secrets", action="store_true",
                        help="also fail when a secret's environment variable or file is missing "
                             "(use where the service's environment is present)")
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


def _secret_problems(config: Config) -> list[str]:
    problems = []
    checks = [
        ("kafka.sasl_password_env", config.kafka.sasl_password_env,
         config.kafka.sasl_password_file),
        ("http.token_env", config.http.token_env, config.http.token_file),
    ]
    for path, env, file in checks:
        try:
            read_secret(env, file, path)
        except ConfigError as exc:
            problems.extend(str(issue) for issue in exc.issues)
    return problems


def check_config(args: argparse.Namespace) -> int:
    config = load_config(args.file)  # ConfigError -> exit 3 in cli.main
    secrets = _secret_problems(config)
    for problem in secrets:
        print(f"{args.file}: warning: {problem}", file=sys.stderr)
    if args.show:
        yaml.safe_dump(as_plain_data(config), sys.stdout, sort_keys=False)
    kafka = ("local broker" if config.kafka.uses_local_broker
             else ",".join(config.kafka.bootstrap_servers))
    print(f"{args.file}: OK ({len(config.feeds)} feeds, kafka: {kafka}, "
          f"http: {config.http.host}:{config.http.port})")
    return 3 if (secrets and args.require_secrets) else 0
