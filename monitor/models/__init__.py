"""Network definitions and the model-package contract.

- :mod:`monitor.models.network`: the CNN family (:class:`SolarResNet`).
- :mod:`monitor.models.manifest`: ``model.json`` as dataclasses.
- :mod:`monitor.models.package`: write / load / verify packages.
- :mod:`monitor.models.onnx_export`: ONNX export (and the fp16 variant for TensorRT).
- :mod:`monitor.models.spec`: export specs (``sdo-monitor export``).
"""

from monitor.models.errors import (
    PackageError,
    PackageFileMissingError,
    PackageFormatError,
    PackageHashMismatchError,
    PackageParityError,
)
from monitor.models.layout import default_package_path
from monitor.models.manifest import Manifest
from monitor.models.network import NetworkConfig, SolarResNet, build_network
from monitor.models.package import ModelPackage, load_package
from monitor.models.spec import manifest_from_spec
from monitor.models.writing import write_package

__all__ = [
    "Manifest",
    "ModelPackage",
    "NetworkConfig",
    "PackageError",
    "PackageFileMissingError",
    "PackageFormatError",
    "PackageHashMismatchError",
    "PackageParityError",
    "SolarResNet",
    "build_network",
    "default_package_path",
    "load_package",
    "manifest_from_spec",
    "write_package",
]
