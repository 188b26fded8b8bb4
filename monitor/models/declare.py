"""Declare a package's provenance after the fact, through the package's own manifest.

::

    sdo-monitor provenance /srv/models/flare-1.2.0 --data real \\
        --source "SDOML v2 (AIA + EVE MEGS-A) with GOES XRS labels" \\
        --start 2011-01-01 --end 2014-05-26

For packages written before ``model.json`` had a ``provenance`` object (the
shipped default among them) and for an operator who knows more about a
package's data than its writer recorded. Only an intact package (every hash
right, ONNX and torch agreeing) is relabelled; no other file changes, so the
manifest's file hashes stay valid, and the package's own sha256 (that of
``model.json``) changes, as it must: the package now says something else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from monitor.atomicfile import atomic_path
from monitor.models.errors import PackageError
from monitor.models.layout import MANIFEST
from monitor.models.package import ModelPackage, load_package
from monitor.models.provenance import DATA_KINDS, ManifestError, Provenance

__all__ = ["add_subparser", "declare_provenance", "run_declare"]


def declare_provenance(path: Path | str, provenance: Provenance) -> ModelPackage:
    """Write ``provenance`` into the package's ``model.json``; returns the reloaded package.

    Raises
    ------
    PackageError
        The package is not intact (nothing is written then).
    """
    package = load_package(path, verify=True)
    manifest = replace(package.manifest, provenance=provenance)
    with atomic_path(package.path / MANIFEST) as temp:
        temp.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n", encoding="utf-8")
        os.chmod(temp, 0o644)
    return load_package(package.path, verify=True)


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "provenance", help="declare what a model package was trained on (rewrites model.json)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("package", type=Path, help="model package directory")
    p.add_argument("--data", required=True, choices=DATA_KINDS, help="kind of training data")
    p.add_argument("--source", required=True, help="where the training data came from")
    p.add_argument("--start", help="first observation date of real data (YYYY-MM-DD)")
    p.add_argument("--end", help="last observation date of real data (YYYY-MM-DD)")
    p.set_defaults(func=run_declare)


def run_declare(args: argparse.Namespace) -> int:
    """Execute ``provenance``; 0 when written, 1 when refused (the reason on stderr)."""
    try:
        provenance = Provenance.from_dict({"data": args.data, "source": args.source,
                                           "start": args.start, "end": args.end})
        package = declare_provenance(args.package, provenance)
    except (ManifestError, PackageError, OSError) as exc:
        print(f"sdo-monitor provenance: {exc}", file=sys.stderr)
        return 1
    print(f"{package.path}: {package.provenance.describe()} (sha256 now "
          f"{package.sha256[:16]})")
    return 0
