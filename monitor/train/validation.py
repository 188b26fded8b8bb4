"""Scoring a model on the validation split: the numbers early stopping and the curve use.

:class:`Validator` runs the whole validation split through a model in
evaluation mode (no augmentation, no gradients) and accumulates the training
loss (weighted by batch size, so the mean is over samples), the class
probabilities and the predicted lines; from those it reports the validation
loss and its parts, the TSS at >= M and the median and worst line error.
Only rank 0 validates under DDP; the others wait for its verdict.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from monitor.models.network import SolarResNet
from monitor.train.batches import EVAL_ROWS, BatchInputs, TrainingLoss
from monitor.train.data import Split
from monitor.train.metrics import irradiance_errors, threshold_scores
from monitor.train.normalize import Normalization

__all__ = ["Validator"]


class Validator:
    """Validation loss and scores of a model.

    Parameters
    ----------
    val : Split
        The validation split.
    z_val : torch.Tensor
        Its lines in target space (NaN where missing).
    batches : BatchInputs
        Input scaling.
    loss : TrainingLoss
        The training objective (without the localisation term).
    norm : Normalization
        Back from target space to W m^-2 for the line errors.
    line_names : sequence of str
        Names of the lines in the error table.
    """

    def __init__(self, val: Split, z_val: torch.Tensor, batches: BatchInputs,
                 loss: TrainingLoss, norm: Normalization, line_names: Sequence[str]) -> None:
        self.val = val
        self.z_val = z_val
        self.batches = batches
        self.loss = loss
        self.norm = norm
        self.line_names = list(line_names)

    def score(self, model: SolarResNet) -> dict[str, float]:
        """The ``val_*`` fields of an epoch record (the model is left in eval mode)."""
        model.eval()
        n = len(self.val)
        device = self.batches.device
        probs, irr_z, sums = [], [], np.zeros(3)
        with torch.no_grad():
            for start in range(0, n, EVAL_ROWS):
                rows = np.arange(start, min(n, start + EVAL_ROWS))
                x, _ = self.batches.inputs(self.val, rows, None)
                logits, irradiance, _ = model(x)
                classes = torch.from_numpy(self.val.class_index[rows]).to(device)
                loss, ce, irr = self.loss(logits, irradiance, classes,
                                          self.z_val[rows].to(device))
                sums += np.array([loss.item(), ce.item(), irr.item()]) * len(rows)
                probs.append(torch.softmax(logits, 1).cpu().numpy())
                irr_z.append(irradiance.cpu().numpy())
        prob = np.concatenate(probs)
        errors = irradiance_errors(self.norm.irradiance(np.concatenate(irr_z)),
                                   self.val.irradiance, self.line_names)
        tss = threshold_scores(self.val.class_index, prob, 2).tss
        return {"val_loss": float(sums[0] / n), "val_class_loss": float(sums[1] / n),
                "val_irradiance_loss": float(sums[2] / n),
                "val_tss_m": float(tss),
                "val_irradiance_median": float(errors["median"]),  # type: ignore[arg-type]
                "val_irradiance_worst": float(errors["worst_line"])}  # type: ignore[arg-type]
