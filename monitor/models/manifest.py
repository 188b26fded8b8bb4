"""``model.json``: the manifest of a model package, as typed dataclasses.

Everything a consumer needs to feed the model and read its outputs lives here:
the channels and per-channel input scaling (applied by
``monitor.scaling``, stored in exactly its dict shape), the class
names, the irradiance lines with their target transform and its inverse, the
name of the feature-map output and of the head tensors the CAM uses, the
network shape (to rebuild the torch model from ``weights.safetensors``) and the
sha256 of every other file.

Irradiance target space (per line): the network predicts
``z = (T(y) - mean) / std`` with ``y`` in W m^-2 and ``T`` one of log10, sqrt,
linear; :meth:`IrradianceLine.inverse` gives ``y = T^-1(z * std + mean)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.models.network import NetworkConfig
from monitor.models.provenance import Provenance
from monitor.models.transforms import (
    ChannelScaling,
    IrradianceLine,
    ManifestError,
    need,
    number,
    parse_scaling,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CamSpec",
    "ChannelScaling",
    "ClassSpec",
    "FeatureSpec",
    "FileEntry",
    "InputSpec",
    "IrradianceLine",
    "Manifest",
    "ManifestError",
]

FORMAT = "sdo-monitor/model-package"
FORMAT_VERSION = 1

#: A package's name and version: they name its directory when promoted and label metrics.
_IDENTITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")


@dataclass(frozen=True)
class InputSpec:
    """The single network input: an ``(B, C, size, size)`` float32 NCHW array on the model grid."""

    channels: tuple[int, ...]
    size: int
    scaling: tuple[ChannelScaling, ...]
    name: str = "image"

    def __post_init__(self) -> None:
        if len(self.scaling) != len(self.channels):
            raise ManifestError("input.scaling", "needs one entry per channel")
        if len(set(self.channels)) != len(self.channels):
            raise ManifestError("input.channels", "duplicate wavelength")
        if self.size < 16:
            raise ManifestError("input.size", "must be >= 16")

    def scaling_for(self, wavelength: int) -> ChannelScaling:
        """Scaling of one channel by AIA wavelength (Angstrom)."""
        return self.scaling[self.channels.index(int(wavelength))]

    def to_dict(self) -> dict[str, Any]:
        """JSON form, with the grid convention spelled out for humans."""
        from monitor.grid import RADIUS_FRACTION

        return {
            "name": self.name,
            "dtype": "float32",
            "layout": "NCHW",
            "size": self.size,
            "channels": list(self.channels),
            "grid": {"center_px": "(N-1)/2", "radius_fraction": RADIUS_FRACTION,
                     "north": "up"},
            "scaling": [s.to_dict() for s in self.scaling],
        }

    @classmethod
    def from_dict(cls, data: Any) -> InputSpec:
        """Validate and build from the ``input`` object."""
        channels = need(data, "channels", "input", list)
        if not channels or not all(isinstance(c, int) and not isinstance(c, bool)
                                   for c in channels):
            raise ManifestError("input.channels", "must be a non-empty list of integers")
        scaling = need(data, "scaling", "input", list)
        return cls(
            channels=tuple(channels),
            size=need(data, "size", "input", int),
            scaling=tuple(parse_scaling(s, f"input.scaling[{i}]")
                          for i, s in enumerate(scaling)),
            name=need(data, "name", "input", str),
        )


@dataclass(frozen=True)
class ClassSpec:
    """The ``logits`` output: one score per event class (softmax -> probabilities)."""

    classes: tuple[str, ...]
    thresholds_w_m2: tuple[float, ...]
    name: str = "logits"

    def __post_init__(self) -> None:
        if len(self.thresholds_w_m2) != len(self.classes):
            raise ManifestError("outputs.logits.thresholds_w_m2", "needs one entry per class")

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "classes": list(self.classes),
                "thresholds_w_m2": list(self.thresholds_w_m2), "activation": "softmax",
                "source": "GOES XRS-B 0.1-0.8 nm peak flux, lower bound of each class"}

    @classmethod
    def from_dict(cls, data: Any) -> ClassSpec:
        """Validate and build from ``outputs.logits``."""
        where = "outputs.logits"
        classes = need(data, "classes", where, list)
        thresholds = need(data, "thresholds_w_m2", where, list)
        return cls(
            classes=tuple(str(c) for c in classes),
            thresholds_w_m2=tuple(float(number(t, f"{where}.thresholds_w_m2") or 0.0)
                                  for t in thresholds),
            name=need(data, "name", where, str),
        )


@dataclass(frozen=True)
class FeatureSpec:
    """The ``features`` output: last feature maps before GAP, ``(B, channels, N/stride, N/stride)``."""

    channels: int
    stride: int
    name: str = "features"


@dataclass(frozen=True)
class CamSpec:
    """Where the CAM comes from: the feature output and the head tensors in the safetensors file."""

    features_output: str = "features"
    class_weight: str = "class_head.weight"
    class_bias: str = "class_head.bias"
    irradiance_weight: str = "irradiance_head.weight"
    irradiance_bias: str = "irradiance_head.bias"


@dataclass(frozen=True)
class FileEntry:
    """Integrity record of one package file."""

    sha256: str
    bytes: int


@dataclass(frozen=True)
class Manifest:
    """The whole ``model.json``.

    Parameters
    ----------
    name, version : str
        Package identity (version is the model's, not the code's).
    input : InputSpec
        The network input.
    classes : ClassSpec
        The ``logits`` output.
    lines : tuple of IrradianceLine
        The ``irradiance`` output, in output order.
    network : NetworkConfig
        Shape of the torch network in ``weights.safetensors``.
    description : str
        One line for humans.
    cam : CamSpec
        Names used to compute class-activation maps.
    opset : int
        ONNX opset of ``model.onnx``.
    training : dict
        Free-form notes written by training (data, seeds, budget).
    files : dict of str to FileEntry
        sha256 and size of every other file; filled by ``write_package``.
    created_utc : str
        ISO 8601 time of writing.
    provenance : Provenance or None
        The training data's kind, source and date range (None: not declared).
    """

    name: str
    version: str
    input: InputSpec
    classes: ClassSpec
    lines: tuple[IrradianceLine, ...]
    network: NetworkConfig
    description: str = ""
    cam: CamSpec = field(default_factory=CamSpec)
    opset: int = 17
    training: dict[str, Any] = field(default_factory=dict)
    files: dict[str, FileEntry] = field(default_factory=dict)
    created_utc: str = ""
    #: What the network was trained on; None when ``model.json`` does not say
    #: (:data:`monitor.models.provenance.UNDECLARED` is how such a package is read).
    provenance: Provenance | None = None

    def __post_init__(self) -> None:
        for key, value in (("name", self.name), ("version", self.version)):
            if not _IDENTITY.fullmatch(value):
                raise ManifestError(key, f"{value[:80]!r} is not a plain name (letters, digits, "
                                         "'.', '_', '+', '-'; it names directories and labels)")
        net = self.network
        if net.in_channels != len(self.input.channels):
            raise ManifestError("network.in_channels", "differs from the number of channels")
        if net.num_classes != len(self.classes.classes):
            raise ManifestError("network.num_classes", "differs from the number of classes")
        if net.num_lines != len(self.lines):
            raise ManifestError("network.num_lines", "differs from the number of lines")
        if self.input.size % net.feature_stride:
            raise ManifestError("input.size", f"must be a multiple of the feature stride "
                                              f"{net.feature_stride}")

    @property
    def features(self) -> FeatureSpec:
        """The feature-map output as the network defines it."""
        return FeatureSpec(channels=self.network.feature_channels,
                           stride=self.network.feature_stride, name=self.cam.features_output)

    @property
    def output_names(self) -> tuple[str, str, str]:
        """ONNX output names in order (logits, irradiance, features)."""
        return (self.classes.name, "irradiance", self.cam.features_output)

    def irradiance_w_m2(self, z: np.ndarray) -> np.ndarray:
        """Convert a ``(B, L)`` target-space irradiance output to W m^-2 (float64)."""
        z = np.asarray(z)
        return np.stack([line.inverse(z[..., i]) for i, line in enumerate(self.lines)], axis=-1)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document written as ``model.json``."""
        f = self.features
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "created_utc": self.created_utc,
            "input": self.input.to_dict(),
            "outputs": {
                "logits": self.classes.to_dict(),
                "irradiance": {
                    "name": "irradiance",
                    "space": "z = (T(y) - mean) / std, y in W m^-2; inverse y = T^-1(z*std+mean)",
                    "lines": [line.to_dict() for line in self.lines],
                },
                "features": {"name": f.name, "channels": f.channels, "stride": f.stride},
            },
            "cam": dict(self.cam.__dict__),
            "network": self.network.to_dict(),
            "onnx": {"opset": self.opset, "dynamic_axes": {"batch": 0}},
            "training": self.training,
            **({"provenance": self.provenance.to_dict()} if self.provenance else {}),
            "files": {k: {"sha256": v.sha256, "bytes": v.bytes}
                      for k, v in sorted(self.files.items())},
        }

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        """Validate and build; raises :class:`ManifestError` naming the JSON key."""
        if not isinstance(data, dict):
            raise ManifestError("", "model.json must hold a JSON object")
        if data.get("format") != FORMAT:
            raise ManifestError("format", f"must be {FORMAT!r}, got {data.get('format')!r}")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ManifestError("format_version", f"this code reads version {FORMAT_VERSION}, "
                                                  f"got {version!r}")
        outputs = need(data, "outputs", "", dict)
        irr = need(outputs, "irradiance", "outputs", dict)
        lines = need(irr, "lines", "outputs.irradiance", list)
        cam = need(data, "cam", "", dict)
        try:
            cam_spec = CamSpec(**cam)
        except TypeError as exc:
            raise ManifestError("cam", str(exc)) from None
        files: dict[str, FileEntry] = {}
        for fname, entry in need(data, "files", "", dict).items():
            where = f"files.{fname}"
            files[fname] = FileEntry(sha256=need(entry, "sha256", where, str),
                                     bytes=need(entry, "bytes", where, int))
        try:
            network = NetworkConfig.from_dict(need(data, "network", "", dict))
        except (TypeError, ValueError) as exc:
            raise ManifestError("network", str(exc)) from None
        features = need(outputs, "features", "outputs", dict)
        if need(features, "name", "outputs.features", str) != cam_spec.features_output:
            raise ManifestError("outputs.features.name", "differs from cam.features_output")
        return cls(
            name=need(data, "name", "", str),
            version=need(data, "version", "", str),
            description=str(data.get("description", "")),
            created_utc=str(data.get("created_utc", "")),
            input=InputSpec.from_dict(need(data, "input", "", dict)),
            classes=ClassSpec.from_dict(need(outputs, "logits", "outputs", dict)),
            lines=tuple(IrradianceLine.from_dict(x, f"outputs.irradiance.lines[{i}]")
                        for i, x in enumerate(lines)),
            network=network,
            cam=cam_spec,
            opset=need(need(data, "onnx", "", dict), "opset", "onnx", int),
            training=dict(data.get("training") or {}),
            files=files,
            provenance=(Provenance.from_dict(data["provenance"])
                        if data.get("provenance") is not None else None),
        )
