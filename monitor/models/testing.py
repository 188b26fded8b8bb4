"""Small untrained packages for tests, benchmarks and pipeline checks.

A freshly initialised :class:`SolarResNet` has identity batch norms and a
zero irradiance CNN head (by design, see the network), so a parity check on
it would not exercise every weight. :func:`perturb` gives every parameter and
batch-norm statistic a non-trivial value first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from monitor.models.network import NetworkConfig, SolarResNet, build_network
from monitor.models.package import ModelPackage
from monitor.models.spec import manifest_from_spec
from monitor.models.writing import write_package

__all__ = ["SMALL_NETWORK", "make_random_package", "perturb", "small_config"]

#: A tiny network for fast tests: 2 stages, feature stride 4.
SMALL_NETWORK: dict[str, Any] = {"widths": [8, 16], "blocks": [1, 1], "stage_strides": [1, 2]}


def perturb(model: SolarResNet, seed: int = 0) -> SolarResNet:
    """Give every weight, bias and batch-norm statistic a random non-trivial value."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(0.5 + torch.rand(c, generator=gen))
                module.bias.copy_(0.1 * torch.randn(c, generator=gen))
                module.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(c, generator=gen))
        for head in (model.class_head, model.irradiance_head, model.stats_head):
            head.weight.copy_(0.1 * torch.randn(head.weight.shape, generator=gen))
            head.bias.copy_(0.1 * torch.randn(head.bias.shape, generator=gen))
    return model.eval()


def make_random_package(
    out: Path,
    *,
    size: int = 64,
    network: dict[str, Any] | None = None,
    seed: int = 0,
    spec: dict[str, Any] | None = None,
    verify: bool = True,
) -> ModelPackage:
    """Write an untrained package with perturbed weights.

    Parameters
    ----------
    out : pathlib.Path
        Package directory to create (replaced if present).
    size : int
        Model grid size in pixels.
    network : dict, optional
        :class:`NetworkConfig` overrides; default :data:`SMALL_NETWORK`.
        Pass ``{}`` for the production network shape.
    seed : int
        Seed of the weights.
    spec : dict, optional
        Further export-spec keys (name, channels, ...).
    verify : bool
        Verify on load (parity included).
    """
    full = {"name": "test-untrained", "version": "0.0.0", "size": size,
            "network": SMALL_NETWORK if network is None else network,
            "training": {"data": f"none: random weights, seed {seed} (tests only)"},
            **(spec or {})}
    manifest = manifest_from_spec(full)
    model = perturb(build_network(manifest.network, seed=seed), seed=seed)
    return write_package(out, model, manifest, overwrite=True, verify=verify)


def small_config(**overrides: Any) -> NetworkConfig:
    """A :class:`NetworkConfig` of :data:`SMALL_NETWORK` shape with overrides."""
    data = {**NetworkConfig().to_dict(), **SMALL_NETWORK, **overrides}
    return NetworkConfig.from_dict(data)
