"""Input scaling and irradiance targets, fitted on the training split.

Input (per channel, the preprocessing contract of ``model.json``)::

    x = (clip(log10(img + offset), clip_min, None) - mean) / std

with ``clip_min = log10(offset)`` (noise below zero DN/s is floored at zero
signal) and ``mean``/``std`` over all pixels of a subset of training images.

Irradiance targets (per line): ``z = (log10(y) - mean) / std`` with ``y`` in
W m^-2 and ``mean``/``std`` of the training split (``std`` floored at 1e-3
dex for lines that barely vary). The log makes the loss a relative error,
which is what the evaluation measures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from monitor.train.data import Split, dequantize

__all__ = ["Normalization", "fit_normalization"]

_MIN_LINE_STD = 1e-3


@dataclass(frozen=True)
class Normalization:
    """Everything that maps cached samples to network inputs and targets."""

    offset: float
    clip_min: float
    channel_mean: tuple[float, ...]
    channel_std: tuple[float, ...]
    line_mean: tuple[float, ...]
    line_std: tuple[float, ...]

    def scaling_dicts(self) -> list[dict[str, Any]]:
        """Per-channel scaling in the ``model.json`` form (``monitor.preprocess`` applies it)."""
        return [{"transform": "log10", "offset": self.offset, "clip_min": self.clip_min,
                 "clip_max": None, "mean": m, "std": s}
                for m, s in zip(self.channel_mean, self.channel_std)]

    def line_dicts(self, lines: Sequence[tuple[str, float]]) -> list[dict[str, Any]]:
        """Per-line target transform in the ``model.json`` form."""
        return [{"ion": ion, "wavelength_nm": wl, "unit": "W m^-2", "transform": "log10",
                 "mean": m, "std": s}
                for (ion, wl), m, s in zip(lines, self.line_mean, self.line_std)]

    def log_batch(self, codes: np.ndarray) -> torch.Tensor:
        """uint16 codes ``(B, C, N, N)`` -> ``log10(img + offset)`` float32 tensor."""
        return torch.from_numpy(dequantize(np.asarray(codes)))

    def network_input(self, log_images: torch.Tensor) -> torch.Tensor:
        """Log-space batch -> scaled network input (clip, then standardise)."""
        mean = torch.tensor(self.channel_mean, dtype=torch.float32,
                            device=log_images.device).view(1, -1, 1, 1)
        std = torch.tensor(self.channel_std, dtype=torch.float32,
                           device=log_images.device).view(1, -1, 1, 1)
        return (log_images.clamp_min(self.clip_min) - mean) / std

    def targets(self, irradiance_w_m2: np.ndarray) -> np.ndarray:
        """``(n, L)`` W m^-2 -> target space ``z``."""
        mean = np.asarray(self.line_mean)
        std = np.asarray(self.line_std)
        return (np.log10(np.asarray(irradiance_w_m2, dtype=np.float64)) - mean) / std

    def irradiance(self, z: np.ndarray) -> np.ndarray:
        """Target space ``z`` -> W m^-2 (float64)."""
        return np.power(10.0, np.asarray(z, dtype=np.float64) * np.asarray(self.line_std)
                        + np.asarray(self.line_mean))

    def to_dict(self) -> dict[str, Any]:
        """JSON form (for checkpoints)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalization:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def fit_normalization(train: Split, max_images: int = 256, seed: int = 0) -> Normalization:
    """Channel statistics from up to ``max_images`` training images; line statistics from all.

    A line's statistics come from the samples where it is known (NaN = missing).
    """
    clip_min = math.log10(train.offset)
    rng = np.random.default_rng(seed)
    n = len(train)
    rows = np.sort(rng.choice(n, size=min(n, max_images), replace=False))
    channels = train.images.shape[1]
    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    count = 0
    for start in range(0, len(rows), 32):
        t = np.maximum(dequantize(np.asarray(train.images[rows[start:start + 32]])), clip_min)
        t64 = t.astype(np.float64)
        total += t64.sum(axis=(0, 2, 3))
        total_sq += (t64 * t64).sum(axis=(0, 2, 3))
        count += t.shape[0] * t.shape[2] * t.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean * mean, 1e-12))
    logs = np.log10(train.irradiance)
    return Normalization(
        offset=float(train.offset), clip_min=clip_min,
        channel_mean=tuple(round(float(v), 6) for v in mean),
        channel_std=tuple(round(float(max(v, 1e-3)), 6) for v in std),
        line_mean=tuple(round(float(v), 6) for v in np.nanmean(logs, axis=0)),
        line_std=tuple(round(float(max(v, _MIN_LINE_STD)), 6) for v in np.nanstd(logs, axis=0)))
