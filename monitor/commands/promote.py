"""``sdo-monitor promote`` and ``sdo-monitor rollback``: change the serving model on evidence.

::

    sdo-monitor promote -c /etc/sdo-monitor/config.yaml /srv/candidates/flare-1.2.0
    sdo-monitor promote -c ... PACKAGE --min-days 14     # a longer live record
    sdo-monitor promote -c ... PACKAGE --force           # against the evidence (logged)
    sdo-monitor rollback -c /etc/sdo-monitor/config.yaml

``promote`` checks the package (sha256 of every file, ONNX/torch parity, a
card and an evaluation, the serving package's channels and grid), reads the
live GOES verification scores from the running daemon (``/api/v1/models``)
and refuses, with every reason, unless the candidate has ``--min-days`` of
live scores and a TSS and HSS at least as good as the champion's at every
threshold over the longest configured window (``goes.verification.windows_s``). Then it
installs the package beside the others and replaces the ``current`` link
(``inference.model_package``) atomically, keeping the old target as
``previous`` (:mod:`monitor.models.promotion`). The daemon's link watch
switches within ``inference.package_watch_s`` (or ``systemctl reload``);
the command waits until the daemon serves the new package, or says why not.
``rollback`` makes ``previous`` current again, the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from monitor.config import Config, load_config
from monitor.credentials import read_secret
from monitor.models import ModelPackage, PackageError, load_package
from monitor.models.promotion import (
    PromotionError,
    compare_scores,
    daemon_verdict,
    input_mismatch,
    install,
    package_problems,
    rollback,
    scores_from_models,
)

__all__ = ["add_subparser", "run_promote", "run_rollback"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    promote = subparsers.add_parser(
        "promote", help="check a model package against the serving one and install it",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    promote.add_argument("package", help="model package directory to promote")
    promote.add_argument("--min-days", type=float, default=7.0,
                         help="days of live scores the candidate needs (default 7)")
    promote.add_argument("--force", action="store_true",
                         help="install even when the evidence says no (the reasons are printed)")
    rollback_cmd = subparsers.add_parser(
        "rollback", help="serve the previously promoted model package again",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for parser, func in ((promote, run_promote), (rollback_cmd, run_rollback)):
        parser.add_argument("-c", "--config", required=True, help="the daemon's YAML config")
        parser.add_argument("--wait", type=float, default=120.0,
                            help="seconds to wait for the daemon to serve it (0: do not wait)")
        parser.set_defaults(func=func)


def _fail(lines: list[str]) -> int:
    for line in lines:
        print(f"sdo-monitor: {line}", file=sys.stderr)
    return 1


def run_promote(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    link = config.inference.model_package
    if link is None:
        return _fail([("inference.model_package is not set: promotion needs the models "
                      "directory layout (docs/operations.md, Promoting a model)")])
    try:
        candidate = load_package(args.package, verify=True)
        champion = load_package(link, verify=False) if link.exists() else None
    except PackageError as exc:
        return _fail([f"refused: {exc}"])
    problems = package_problems(candidate)
    if champion is not None:
        problems += [m for m in [input_mismatch(champion, candidate)] if m]
    if problems:
        return _fail([f"refused: {p}" for p in problems])
    if champion is not None and champion.sha256 == candidate.sha256:
        print(f"{_label(candidate)} is already serving")
        return 0
    reasons = _evidence(config, champion, candidate, args.min_days, args.force)
    if reasons is not None:
        return _fail(reasons)
    since = time.time()
    try:
        installed, previous = install(candidate, link)
    except (PromotionError, PackageError, OSError) as exc:
        return _fail([f"not installed: {exc}"])
    print(f"installed {installed} as {link}" + (f" (previous: {previous.name})" if previous
                                                 else ""))
    if candidate.provenance.synthetic_only:
        print(f"warning: {_label(candidate)} was trained on synthetic data only "
              f"({candidate.provenance.describe()})")
    return _await_serving(config, candidate, installed, since, args.wait)


def run_rollback(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    link = config.inference.model_package
    if link is None:
        return _fail(["inference.model_package is not set: nothing was promoted"])
    since = time.time()
    try:
        left, back = rollback(link)
        restored = load_package(back, verify=False)
    except (PromotionError, PackageError, OSError) as exc:
        return _fail([f"cannot roll back: {exc}"])
    print(f"rolled back: {link} -> {back.name} (was {left.name})")
    return _await_serving(config, restored, back, since, args.wait)


def _evidence(config: Config, champion: ModelPackage | None, candidate: ModelPackage,
              min_days: float, force: bool) -> list[str] | None:
    """None when the live scores allow the promotion (or --force), else the reasons."""
    try:
        models = _get_json(config, "/api/v1/models")
    except (OSError, ValueError) as exc:
        reasons = [f"live scores unavailable: the daemon's API did not answer ({exc})"]
        scores = []
    else:
        reasons, scores = [], scores_from_models(models)
    windows = config.goes.verification.windows_s
    window = max(windows, key=windows.__getitem__) if windows else ""
    cadence = min((f.cadence_s for f in config.feeds), default=60.0)
    decision = compare_scores(
        [s for s in scores if champion is not None and s.package == champion.sha256],
        [s for s in scores if s.package == candidate.sha256], window=window,
        min_days=min_days, frames_per_day=86400.0 / cadence, force=force)
    reasons += list(decision.reasons)
    if not reasons:
        return None
    if force:
        for reason in reasons:
            print(f"overridden by --force: {reason}")
        return None
    return [("refused (at least as good as the champion, live, is required; --force "
            "overrides):"), *reasons]


def _await_serving(config: Config, package: ModelPackage, target: Path, since: float,
                   wait_s: float) -> int:
    """Wait until the daemon serves ``package`` (installed at ``target`` at ``since``);
    1 with the daemon's reason when it refuses it."""
    if wait_s <= 0:
        return 0
    deadline = time.monotonic() + wait_s
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            last = _get_json(config, "/api/v1/status")
        except (OSError, ValueError) as exc:
            print(f"the daemon's API did not answer ({exc}): it switches at its next "
                  "start, or `systemctl reload sdo-monitor`")
            return 0
        verdict, why = daemon_verdict(last, package.sha256, target, since)
        if verdict == "serving":
            print(f"serving {_label(package)} ({package.sha256[:12]})")
            return 0
        if verdict == "refused":
            return _fail([(f"the daemon refused {_label(package)} and keeps serving "
                          f"{(last.get('model') or {}).get('name')}: {why}"),
                          "`sdo-monitor rollback` restores the link to what it serves"])
        time.sleep(1.0)
    refused = [d for d in last.get("degraded", []) if "model switch refused" in d]
    hint = refused or ["(inference.package_watch_s 0? `systemctl reload sdo-monitor`)"]
    return _fail([f"the daemon does not serve {_label(package)} after {wait_s:g} s", *hint])


def _label(package: ModelPackage) -> str:
    return package.identity.label


def _get_json(config: Config, path: str) -> dict[str, Any]:
    http = config.http
    host = "127.0.0.1" if http.host in ("0.0.0.0", "", "::") else http.host
    host = f"[{host}]" if ":" in host else host
    request = urllib.request.Request(f"http://{host}:{http.port}{path}")
    token = read_secret(http.token_env, http.token_file, "http.token_env")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            data = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise OSError(f"HTTP {exc.code} from {path}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} did not return an object")  # noqa: TRY004 - bad input, not a bug
    return data
