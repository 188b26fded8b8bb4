"""Export specs: the small JSON/YAML document ``sdo-monitor export`` turns into a manifest.

Every key is optional; the defaults give the project's standard package
(7 AIA channels at 256 px, classes none/C/M/X, the 14 EVE lines)::

    name: sdo-flare-eve
    version: 0.1.0
    description: "..."
    size: 256                        # model grid, 256 or 512
    channels: [94, 131, 171, 193, 211, 304, 335]
    scaling:                         # per channel, list in channel order or
      171: {transform: log10, offset: 1.0, clip_min: 0.0, clip_max: null,
            mean: 1.9, std: 0.4}     # mapping wavelength -> dict (others default)
    classes: [none, C, M, X]
    class_thresholds_w_m2: [0, 1.0e-6, 1.0e-5, 1.0e-4]
    lines:                           # full list, output order
      - {ion: Fe XVIII, wavelength_nm: 9.39, transform: log10, mean: -5.2, std: 0.3}
    network: {widths: [16, 32, 64, 128], blocks: [1, 1, 2, 1]}
    opset: 17
    training: {data: "...", seed: 0}   # free-form notes
    provenance: {data: real, source: "SDOML v2", start: 2011-01-01, end: 2014-05-26}

Training can also embed the spec in its checkpoint, as the safetensors
metadata key :data:`CHECKPOINT_SPEC_KEY` holding the JSON text; ``export``
then needs no spec file.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from monitor.models.defaults import (
    DEFAULT_CHANNELS,
    DEFAULT_CLASS_THRESHOLDS_W_M2,
    DEFAULT_CLASSES,
    DEFAULT_SIZE,
    default_line_targets,
    default_scaling,
)
from monitor.models.manifest import (
    ChannelScaling,
    ClassSpec,
    InputSpec,
    IrradianceLine,
    Manifest,
    ManifestError,
)
from monitor.models.network import NetworkConfig
from monitor.models.onnx_export import DEFAULT_OPSET
from monitor.models.provenance import Provenance
from monitor.models.transforms import parse_scaling

__all__ = ["CHECKPOINT_SPEC_KEY", "SPEC_KEYS", "manifest_from_spec"]

#: safetensors metadata key under which a checkpoint may carry its export spec (JSON).
CHECKPOINT_SPEC_KEY = "sdo_monitor.spec"

SPEC_KEYS = ("name", "version", "description", "size", "channels", "scaling", "classes",
             "class_thresholds_w_m2", "lines", "network", "opset", "training", "provenance")


def _scaling(spec: dict[str, Any], channels: tuple[int, ...]) -> tuple[ChannelScaling, ...]:
    given = spec.get("scaling")
    if given is None:
        given = {}
    if isinstance(given, list):
        if len(given) != len(channels):
            raise ManifestError("scaling", f"list needs {len(channels)} entries (one per channel)")
        return tuple(parse_scaling(d, f"scaling[{i}]") for i, d in enumerate(given))
    if not isinstance(given, dict):
        raise ManifestError("scaling", "must be a list or a mapping wavelength -> dict")
    by_wl = {int(k): v for k, v in given.items()}
    unknown = sorted(set(by_wl) - set(channels))
    if unknown:
        raise ManifestError("scaling", f"wavelengths {unknown} are not in channels")
    return tuple(parse_scaling(by_wl.get(c, default_scaling(c)), f"scaling.{c}")
                 for c in channels)


def manifest_from_spec(spec: dict[str, Any] | None = None) -> Manifest:
    """Build a :class:`Manifest` (without file hashes) from an export spec.

    Parameters
    ----------
    spec : dict, optional
        See the module docstring; ``None`` gives all defaults.

    Raises
    ------
    ManifestError
        Naming the spec key at fault.
    """
    spec = dict(spec or {})
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ManifestError(unknown[0], f"unknown spec key (known: {', '.join(SPEC_KEYS)})")
    channels = tuple(int(c) for c in spec.get("channels", DEFAULT_CHANNELS))
    classes = tuple(str(c) for c in spec.get("classes", DEFAULT_CLASSES))
    thresholds = spec.get("class_thresholds_w_m2")
    if thresholds is None:
        if classes != DEFAULT_CLASSES:
            raise ManifestError("class_thresholds_w_m2", "required when classes are not default")
        thresholds = DEFAULT_CLASS_THRESHOLDS_W_M2
    lines_data = spec.get("lines", default_line_targets())
    if not isinstance(lines_data, list) or not lines_data:
        raise ManifestError("lines", "must be a non-empty list")
    lines = tuple(IrradianceLine.from_dict({"unit": "W m^-2", "transform": "log10", "mean": 0.0,
                                            "std": 1.0, **d}, f"lines[{i}]")
                  for i, d in enumerate(lines_data))
    net_overrides = spec.get("network") or {}
    if not isinstance(net_overrides, dict):
        raise ManifestError("network", "must be a mapping")
    try:
        network = NetworkConfig.from_dict({
            **NetworkConfig().to_dict(), **net_overrides, "in_channels": len(channels),
            "num_classes": len(classes), "num_lines": len(lines)})
    except (TypeError, ValueError) as exc:
        raise ManifestError("network", str(exc)) from None
    size = spec.get("size", DEFAULT_SIZE)
    if not isinstance(size, int) or isinstance(size, bool):
        raise ManifestError("size", f"must be an integer, got {size!r}")
    manifest = Manifest(
        name=str(spec.get("name", "sdo-flare-eve")),
        version=str(spec.get("version", "0.0.0")),
        description=str(spec.get("description", "")),
        input=InputSpec(channels=channels, size=size, scaling=_scaling(spec, channels)),
        classes=ClassSpec(classes=classes, thresholds_w_m2=tuple(float(t) for t in thresholds)),
        lines=lines,
        network=network,
        opset=int(spec.get("opset", DEFAULT_OPSET)),
        training=dict(spec.get("training") or {}),
        provenance=(Provenance.from_dict(_iso_dates(spec["provenance"]))
                    if spec.get("provenance") is not None else None),
    )
    return manifest


def _iso_dates(provenance: Any) -> Any:
    """YAML reads ``start: 2011-01-01`` as a date: back to the ISO text ``model.json`` holds."""
    if not isinstance(provenance, dict):
        return provenance
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in provenance.items()}
