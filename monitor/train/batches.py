"""What every optimiser step, validation pass and closed-form fit shares: inputs and the loss.

* :class:`BatchInputs` turns rows of a cached split into the network's input
  tensor (scaled, and augmented when training), and runs a function of that
  input over many rows without gradients (the closed-form fits' features);
* :class:`TrainingLoss` is the objective the CNN is trained and validated on.

Both are built once per run from the fitted :class:`~monitor.train.normalize.Normalization`
and the settings, so a training step, a validation pass and a head fit cannot
disagree on scaling or on how a line error is weighed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from monitor.train.augment import Augmenter
from monitor.train.data import Split
from monitor.train.normalize import Normalization
from monitor.train.settings import TrainingSettings

__all__ = ["BatchInputs", "TrainingLoss"]

#: Rows per forward pass when no gradient is kept (validation, closed-form fits).
EVAL_ROWS = 64


class BatchInputs:
    """Network inputs for rows of a split.

    Parameters
    ----------
    norm : Normalization
        Input scaling fitted on the training split.
    augmenter : Augmenter
        Applied to training batches (those drawn with a generator).
    device : torch.device
        Where the inputs go.
    """

    def __init__(self, norm: Normalization, augmenter: Augmenter, device: torch.device) -> None:
        self.norm = norm
        self.augmenter = augmenter
        self.device = device

    def inputs(self, split: Split, rows: np.ndarray, generator: torch.Generator | None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled batch (augmented when ``generator`` is given) and each sample's roll.

        The cache is read in ascending row order (sequential on disk) and put
        back in the order asked for, so the batch keeps the sampler's order.
        """
        log_images = self.norm.log_batch(split.images[np.sort(rows)])
        order = torch.from_numpy(np.argsort(np.argsort(rows)))
        log_images = log_images[order]
        angles = torch.zeros(len(rows))
        if generator is not None:
            log_images, angles = self.augmenter.with_angles(log_images, generator)
        return self.norm.network_input(log_images).to(self.device), angles

    def apply(self, split: Split, rows: np.ndarray,
              fn: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
        """``fn`` of the unaugmented inputs of ``rows``, stacked as float64 (no gradients)."""
        out = []
        with torch.no_grad():
            for start in range(0, len(rows), EVAL_ROWS):
                x, _ = self.inputs(split, rows[start:start + EVAL_ROWS], None)
                out.append(fn(x).double().cpu().numpy())
        return np.concatenate(out)


class TrainingLoss:
    """Class weight x cross-entropy + irradiance weight x Huber loss of the line errors.

    Line errors are measured in dex and divided by ``irradiance_scale_dex``, so
    the Huber loss is quadratic below that scale (~2 % for 0.01 dex) and linear
    above: a few huge flare values do not drown the many quiet frames.

    Parameters
    ----------
    settings : TrainingSettings
        Loss weights and ``irradiance_scale_dex``.
    class_weight : numpy.ndarray
        Cross-entropy weight per class (from the training split's counts).
    line_std : numpy.ndarray
        Dex per target unit of each line.
    device : torch.device
        Where the loss is computed.
    """

    def __init__(self, settings: TrainingSettings, class_weight: np.ndarray,
                 line_std: np.ndarray, device: torch.device) -> None:
        self.settings = settings
        self.class_weight = torch.tensor(class_weight, dtype=torch.float32, device=device)
        self.line_std = torch.tensor(line_std, dtype=torch.float32, device=device)

    def __call__(self, logits: torch.Tensor, irradiance: torch.Tensor, classes: torch.Tensor,
                 z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The total loss and its two parts (cross-entropy, irradiance)."""
        s = self.settings
        ce = F.cross_entropy(logits, classes, weight=self.class_weight)
        # Missing lines (NaN targets: real EVE data) add nothing to the loss.
        known = torch.isfinite(z)
        err = torch.where(known, (irradiance - z) * self.line_std / s.irradiance_scale_dex, 0.0)
        irr = (F.huber_loss(err, torch.zeros_like(err), delta=1.0, reduction="sum")
               / known.sum().clamp_min(1))
        return s.class_loss_weight * ce + s.irradiance_loss_weight * irr, ce, irr
