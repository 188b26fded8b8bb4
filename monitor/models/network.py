"""The network family: a compact ResNet with a class head and a virtual-EVE head.

One input, three outputs, so every backend (torch, ONNX Runtime, TensorRT)
serves the same graph:

``image`` (B, C, N, N) float32, already scaled per channel
    ``logits`` (B, K)
        event-class scores (softmax gives probabilities).
    ``irradiance`` (B, L)
        the EVE lines in the *transformed, standardised* target space of
        ``model.json`` (its inverse gives W m^-2).
    ``features`` (B, F, N/s, N/s)
        the last feature maps before global-average pooling (s = stride).

Irradiance follows Szenicer et al. 2019: a linear model on per-channel image
statistics (mean and standard deviation, computed *inside* the network so the
exported graph needs nothing but the image) plus the CNN on the residual. The
two parts are kept as separate named modules (``stats_head`` and
``irradiance_head``) so training can fit the linear model first and report the
linear-only baseline.

Both heads are global-average-pool + linear. Then for class c the Grad-CAM
equals the class-activation map ``relu(sum_k W[c, k] * features[k])`` (plus a
constant bias that does not move the map): saliency comes from the forward
pass of any backend, using the head weights named in ``model.json``.

The statistics and the linear model always run in float32 (autocast is turned
off around them): they carry most of the irradiance signal, and fp16 rounding
of a log-irradiance of ~-4 would already cost ~0.1 % in W m^-2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = [
    "BasicBlock",
    "NetworkConfig",
    "SolarResNet",
    "build_network",
    "count_parameters",
]

ARCHITECTURE = "SolarResNet"


@dataclass(frozen=True)
class NetworkConfig:
    """Shape of a :class:`SolarResNet`; stored in ``model.json`` to rebuild it.

    Parameters
    ----------
    in_channels : int
        Number of input channels (AIA wavelengths).
    num_classes : int
        Number of event classes.
    num_lines : int
        Number of irradiance lines.
    widths : tuple of int
        Channels of each residual stage.
    blocks : tuple of int
        Residual blocks per stage.
    stem_stride : int
        Stride of the 3x3 stem convolution.
    stage_strides : tuple of int
        Stride of the first block of each stage.
    stats_eps : float
        Added to the variance before the square root (keeps std differentiable
        on constant images).
    """

    in_channels: int = 7
    num_classes: int = 4
    num_lines: int = 14
    widths: tuple[int, ...] = (16, 32, 64, 128)
    blocks: tuple[int, ...] = (1, 1, 2, 1)
    stem_stride: int = 2
    stage_strides: tuple[int, ...] = (1, 2, 2, 2)
    stats_eps: float = 1e-6
    architecture: str = field(default=ARCHITECTURE)

    def __post_init__(self) -> None:
        problems = []
        if self.architecture != ARCHITECTURE:
            problems.append(f"architecture must be {ARCHITECTURE!r}, got {self.architecture!r}")
        if min(self.in_channels, self.num_classes, self.num_lines) < 1:
            problems.append("in_channels, num_classes and num_lines must be >= 1")
        if not self.widths or len(self.widths) != len(self.blocks):
            problems.append("widths and blocks must be non-empty and of equal length")
        if len(self.stage_strides) != len(self.widths):
            problems.append("stage_strides must have one entry per stage")
        if any(w < 1 for w in self.widths) or any(b < 1 for b in self.blocks):
            problems.append("widths and blocks must be >= 1")
        if self.stem_stride < 1 or any(s < 1 for s in self.stage_strides):
            problems.append("strides must be >= 1")
        if problems:
            raise ValueError("invalid NetworkConfig: " + "; ".join(problems))

    @property
    def feature_channels(self) -> int:
        """Channels F of the ``features`` output."""
        return self.widths[-1]

    @property
    def feature_stride(self) -> int:
        """Input pixels per ``features`` pixel along each axis."""
        stride = self.stem_stride
        for s in self.stage_strides:
            stride *= s
        return stride

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a newer format)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown network keys: {', '.join(unknown)}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**kwargs)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class SolarResNet(nn.Module):
    """Compact ResNet with GAP + linear class and irradiance heads.

    Parameters
    ----------
    config : NetworkConfig
        Shape of the network.

    Notes
    -----
    Parameter names are part of the package contract: ``class_head.weight`` /
    ``class_head.bias`` and ``irradiance_head.weight`` / ``irradiance_head.bias``
    are the CAM weights ``model.json`` points to; ``stats_head`` is the linear
    (Szenicer baseline) irradiance model.
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        w0 = config.widths[0]
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, w0, 3, stride=config.stem_stride, padding=1, bias=False),
            nn.BatchNorm2d(w0),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        cin = w0
        for width, nblocks, stride in zip(config.widths, config.blocks, config.stage_strides):
            blocks = [BasicBlock(cin, width, stride)]
            blocks += [BasicBlock(width, width, 1) for _ in range(nblocks - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)  # exports as GlobalAveragePool
        self.class_head = nn.Linear(cin, config.num_classes)
        self.irradiance_head = nn.Linear(cin, config.num_lines)
        self.stats_head = nn.Linear(2 * config.in_channels, config.num_lines)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # Zero-init the last BN of each block (Goyal et al.): blocks start as
        # identities, which trains a small ResNet faster and more stably.
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)
        # The CNN starts by predicting no residual, so the untrained irradiance
        # output is the linear model alone (Szenicer's two-step recipe).
        nn.init.zeros_(self.irradiance_head.weight)
        nn.init.zeros_(self.irradiance_head.bias)

    def image_stats(self, x: torch.Tensor) -> torch.Tensor:
        """Per-channel mean and standard deviation, ``(B, 2C)`` float32.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, C, N, N)`` scaled input.
        """
        x = x.float()
        mean = x.mean(dim=(2, 3))
        centred = x - mean[:, :, None, None]
        std = torch.sqrt((centred * centred).mean(dim=(2, 3)) + self.config.stats_eps)
        return torch.cat([mean, std], dim=1)

    def linear_irradiance(self, x: torch.Tensor) -> torch.Tensor:
        """The linear-only (baseline) irradiance in target space, float32."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            stats = self.image_stats(x)
            return nn.functional.linear(
                stats, self.stats_head.weight.float(), self.stats_head.bias.float()
            )

    def backbone(self, x: torch.Tensor) -> torch.Tensor:
        """Feature maps ``(B, F, N/s, N/s)`` before pooling."""
        return self.stages(self.stem(x))

    def heads(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits and irradiance residual from the feature maps."""
        pooled = torch.flatten(self.pool(features), 1)
        return self.class_head(pooled), self.irradiance_head(pooled)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the network.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, C, N, N)`` scaled input.

        Returns
        -------
        logits, irradiance, features : torch.Tensor
            See the module docstring; all float32 even under autocast.
        """
        linear = self.linear_irradiance(x)
        features = self.backbone(x)
        logits, residual = self.heads(features)
        return logits.float(), linear + residual.float(), features.float()


def build_network(config: NetworkConfig | None = None, seed: int | None = None) -> SolarResNet:
    """Create a network in eval mode, optionally with a deterministic initialisation.

    Parameters
    ----------
    config : NetworkConfig, optional
        Defaults to :class:`NetworkConfig()`.
    seed : int, optional
        Seed for the initial weights (uses a private generator state).
    """
    config = config or NetworkConfig()
    if seed is None:
        return SolarResNet(config).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SolarResNet(config).eval()


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())
