"""``sdo-monitor export``: write a model package from a safetensors checkpoint.

Examples::

    sdo-monitor export --weights run/best.safetensors --spec spec.yaml --out models/v1
    sdo-monitor export --random-init --seed 0 --out /tmp/untrained   # for tests and benchmarks

The checkpoint is a safetensors file of the network's state dict (never a
pickle). The spec (YAML or JSON, see :mod:`monitor.models.spec`) comes from
``--spec``, else from the checkpoint's metadata key ``sdo_monitor.spec``, else
the defaults. The written package is loaded back with full verification.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from monitor.logs import get_logger
from monitor.models.errors import PackageError, PackageFormatError
from monitor.models.manifest import ManifestError
from monitor.models.network import build_network
from monitor.models.package import load_weights
from monitor.models.provenance import Provenance
from monitor.models.spec import CHECKPOINT_SPEC_KEY, manifest_from_spec
from monitor.models.writing import write_package

__all__ = ["add_subparser", "run_export"]

log = get_logger(__name__)


def add_subparser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` subcommand."""
    p = subparsers.add_parser(
        "export", help="write a model package (model.json, ONNX, safetensors, card, metrics)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights", type=Path, help="safetensors checkpoint (network state dict)")
    src.add_argument("--random-init", action="store_true",
                     help="untrained random weights (tests, benchmarks; never for forecasts)")
    p.add_argument("--spec", type=Path, help="export spec, YAML or JSON (default: checkpoint "
                                             "metadata, else built-in defaults)")
    p.add_argument("--out", type=Path, required=True, help="package directory to create")
    p.add_argument("--metrics", type=Path, help="metrics.json to include")
    p.add_argument("--card", type=Path, help="MODEL_CARD.md to include (default: a template)")
    p.add_argument("--seed", type=int, default=0, help="seed for --random-init (default 0)")
    p.add_argument("--force", action="store_true", help="replace an existing package")
    p.set_defaults(func=run_export)


def _read_spec(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ManifestError("", f"{path}: the spec must be a mapping")
    return data


def _checkpoint_spec(path: Path) -> dict[str, Any] | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - safetensors' own error types
        raise PackageFormatError(path, f"unreadable safetensors: {exc}") from None
    text = meta.get(CHECKPOINT_SPEC_KEY)
    return json.loads(text) if text else None


def run_export(args: argparse.Namespace) -> int:
    """Execute ``export``; returns the exit code (0 ok, 1 failure)."""
    from safetensors.torch import load_file

    try:
        if args.spec is not None:
            spec = _read_spec(args.spec)
        elif args.weights is not None:
            spec = _checkpoint_spec(args.weights) or {}
        else:
            spec = {}
        manifest = manifest_from_spec(spec)
        model = build_network(manifest.network, seed=args.seed)
        if args.weights is not None:
            try:
                state = load_file(str(args.weights))
            except Exception as exc:  # noqa: BLE001 - safetensors' own error types
                raise PackageFormatError(args.weights, f"unreadable safetensors: {exc}") from None
            load_weights(model, state, args.weights)
        else:
            log.warning("exporting an UNTRAINED package (random weights)", seed=args.seed)
            training = dict(manifest.training)
            training.setdefault("data", f"none: random initialisation, seed {args.seed}; "
                                        "untrained, for tests and benchmarks only")
            manifest = replace(manifest, training=training, provenance=manifest.provenance or
                               Provenance("synthetic", "none: untrained random weights"))
        metrics = json.loads(args.metrics.read_text(encoding="utf-8")) if args.metrics else None
        card = args.card.read_text(encoding="utf-8") if args.card else None
        package = write_package(args.out, model, manifest, metrics=metrics, model_card=card,
                                overwrite=args.force)
    except (ManifestError, PackageError, FileExistsError, OSError, ValueError) as exc:
        # json.JSONDecodeError and yaml errors derive from ValueError / YAMLError
        print(f"sdo-monitor export: {exc}", file=sys.stderr)
        return 1
    except yaml.YAMLError as exc:
        print(f"sdo-monitor export: spec is not valid YAML: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {package.path} (sha256 {package.sha256[:16]}, "
          f"{sum(f.bytes for f in package.manifest.files.values()) / 1e6:.2f} MB)")
    return 0
