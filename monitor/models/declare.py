"""Declare a package's provenance after the fact, through the package's own manifest.

For packages written before ``model.json`` had a ``provenance`` object (the
shipped default among them) and for an operator who knows more about a
package's data than its writer recorded. Only an intact package (every hash
right, ONNX and torch agreeing) is relabelled; no other file changes, so the
manifest's file hashes stay valid, and the package's own sha256 (that of
``model.json``) changes, as it must: the package now says something else.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from monitor.atomicfile import atomic_path
from monitor.models.package import MANIFEST, ModelPackage, load_package
from monitor.models.provenance import Provenance

__all__ = ["declare_provenance"]


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
