"""The training loop: Szenicer's two steps, then epochs with early stopping.

1. **Linear model.** The network's ``stats_head`` (per-channel mean and std of
   the scaled image -> the 14 lines in target space) is fitted in closed form
   on the whole training split (Huber loss in dex, per-line ridge chosen on
   the validation split, :mod:`~monitor.train.heads`), then frozen: it *is*
   the linear-only baseline of the evaluation, and the CNN learns the residual.
2. **CNN.** AdamW with a linear warm-up and a cosine decay over the configured
   epochs; loss = class weight x cross-entropy + irradiance weight x Huber
   loss of the line errors measured in dex / ``irradiance_scale_dex`` (so
   quadratic below ~2 % and linear above). After every epoch rank 0 scores the
   validation split; training stops after ``patience`` epochs without a gain
   of ``min_delta`` in validation loss, or when the wall-time budget is spent,
   and the best epoch's weights are kept.
3. **Closed-form last layer.** After the epochs the irradiance head is
   refitted on the pooled features of the whole training split
   (:mod:`~monitor.train.heads`), removing the SGD noise of the last layer.
4. **Saliency that points at the flare**: for frames with a known flare a
   localisation term (:mod:`~monitor.train.localize`, weight
   ``saliency_loss_weight``) pulls the true class's CAM onto the flare.

:class:`Trainer` reads as those steps; the parts are small objects of their own:
:class:`~monitor.train.heads.HeadFitter` (the closed-form fits),
:class:`~monitor.train.epochs.EpochLoop` (one epoch's optimiser steps, the EMA),
:class:`~monitor.train.validation.Validator` (the validation scores),
:mod:`~monitor.train.schedule` (time budget, learning rate, early stopping) and
:mod:`~monitor.train.batches` (inputs and the loss they all share).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from monitor.logs import get_logger
from monitor.models.network import NetworkConfig, SolarResNet, build_network
from monitor.train.augment import Augmenter
from monitor.train.batches import BatchInputs, TrainingLoss
from monitor.train.data import Split
from monitor.train.distributed import DistContext
from monitor.train.epochs import EpochLoop, EpochLosses
from monitor.train.heads import HeadFitter
from monitor.train.normalize import Normalization
from monitor.train.schedule import EarlyStopping, TimeBudget
from monitor.train.settings import TrainConfig
from monitor.train.splits import class_weights
from monitor.train.validation import Validator

__all__ = ["EpochRecord", "TrainResult", "Trainer", "network_config"]

log = get_logger(__name__)


def network_config(config: TrainConfig, num_classes: int = 4, num_lines: int = 14
                   ) -> NetworkConfig:
    """The :class:`NetworkConfig` a training config asks for."""
    m = config.model
    return NetworkConfig(in_channels=len(m.channels), num_classes=num_classes,
                         num_lines=num_lines, widths=tuple(m.widths), blocks=tuple(m.blocks),
                         stem_stride=m.stem_stride, stage_strides=tuple(m.stage_strides))


@dataclass
class EpochRecord:
    """One epoch of the training curve."""

    epoch: int
    train_loss: float
    train_class_loss: float
    train_irradiance_loss: float
    val_loss: float
    val_class_loss: float
    val_irradiance_loss: float
    val_tss_m: float
    val_irradiance_median: float
    val_irradiance_worst: float
    lr: float
    seconds: float
    samples: int


@dataclass
class TrainResult:
    """What training produced (on rank 0; other ranks get the same model)."""

    model: SolarResNet
    history: list[EpochRecord]
    best_epoch: int
    stop_reason: str
    seconds: float
    samples_seen: int
    linear_fit: dict[str, Any] = field(default_factory=dict)
    head_refit: dict[str, Any] = field(default_factory=dict)

    def history_dicts(self) -> list[dict[str, Any]]:
        """The curve as JSON-ready rows."""
        return [asdict(r) for r in self.history]


class Trainer:
    """Train one network on cached splits.

    Parameters
    ----------
    config : TrainConfig
    norm : Normalization
        Input scaling and targets fitted on ``train``.
    train, val : Split
    ctx : DistContext
        Process group (a default one when alone).
    line_names : sequence of str
        For logged validation errors.
    """

    def __init__(self, config: TrainConfig, norm: Normalization, train: Split, val: Split,
                 ctx: DistContext, line_names: list[str]) -> None:
        t = config.training
        self.config = config
        self.train = train
        self.ctx = ctx
        self.line_names = line_names
        self.device = torch.device(t.device if not ctx.distributed or
                                   not t.device.startswith("cuda")
                                   else f"cuda:{ctx.local_rank}")
        augmenter = Augmenter(config.augment, config.model.channels, config.model.size,
                              norm.offset, seed=config.seed)
        self.batches = BatchInputs(norm, augmenter, self.device)
        self.loss = TrainingLoss(t, class_weights(train.class_counts(4), t.class_weighting),
                                 norm.line_std, self.device)
        self.z_train = torch.tensor(norm.targets(train.irradiance), dtype=torch.float32)
        z_val = torch.tensor(norm.targets(val.irradiance), dtype=torch.float32)
        self.validator = Validator(val, z_val, self.batches, self.loss, norm, line_names)
        self.heads = HeadFitter(train, val, self.z_train, z_val, self.batches, norm.line_std,
                                t.irradiance_scale_dex, ctx)

    def build_model(self) -> SolarResNet:
        """The network with the configured shape and seed."""
        return build_network(network_config(self.config, 4, len(self.line_names)),
                             seed=self.config.seed).to(self.device)

    def run(self, model: SolarResNet | None = None) -> TrainResult:
        """Fit the linear model, then train the CNN; returns the best epoch's model."""
        t = self.config.training
        model = model or self.build_model()
        linear_fit = self.heads.fit_linear_head(model)
        budget = TimeBudget(t.max_minutes)
        loop = EpochLoop(self.config, self.ctx, model, self.train, self.z_train, self.batches,
                         self.loss, budget)
        stopping = EarlyStopping(t.patience, t.min_delta)
        best_state = copy.deepcopy(model.state_dict())
        history: list[EpochRecord] = []
        stop_reason = "epochs"
        for epoch in range(t.epochs):
            started = time.monotonic()
            losses = loop.run(epoch)
            improved = False
            if self.ctx.is_main:
                record = self._record(epoch, losses, loop, started)
                history.append(record)
                improved = stopping.is_gain(record.val_loss)
                if improved:
                    stopping.mark_best(record.epoch, record.val_loss)
                    best_state = copy.deepcopy(loop.ema.state_dict())
            # Rank 0's verdicts, so that every process stops after the same epoch.
            patience_spent = stopping.patience_spent(self.ctx.broadcast_flag(improved))
            if self.ctx.broadcast_flag(losses.out_of_time):
                stop_reason = "time budget"
                break
            if patience_spent:
                stop_reason = stopping.reason
                break
        self._keep_best(model, best_state)
        head_refit = self._refit_irradiance_head(model) if t.refit_irradiance_head else {}
        return TrainResult(model=model, history=history, best_epoch=stopping.best_epoch,
                           stop_reason=stop_reason, seconds=budget.elapsed(),
                           samples_seen=loop.seen, linear_fit=linear_fit, head_refit=head_refit)

    def _record(self, epoch: int, losses: EpochLosses, loop: EpochLoop,
                started: float) -> EpochRecord:
        """Validate the averaged weights after ``epoch`` and log the curve's row (rank 0)."""
        val = self.validator.score(loop.ema)
        record = EpochRecord(
            epoch=epoch + 1, train_loss=losses.loss, train_class_loss=losses.class_loss,
            train_irradiance_loss=losses.irradiance_loss, **val, lr=loop.last_lr(),
            seconds=time.monotonic() - started, samples=loop.seen)
        log.info("epoch done", **{k: round(v, 5) if isinstance(v, float) else v
                                  for k, v in asdict(record).items()})
        return record

    def _keep_best(self, model: SolarResNet, best_state: dict[str, torch.Tensor]) -> None:
        """Load the best epoch's weights, on every process."""
        model.load_state_dict(best_state)
        if self.ctx.distributed:
            # Rank 0's best weights everywhere (ranks only diverge in BN buffers).
            for tensor in model.state_dict().values():
                torch.distributed.broadcast(tensor, src=0)
        model.eval()

    def _refit_irradiance_head(self, model: SolarResNet) -> dict[str, Any]:
        """The closed-form last layer, with the validation errors before and after (rank 0)."""
        before = self.validator.score(model) if self.ctx.is_main else {}
        head_refit = self.heads.refit_irradiance_head(model)
        if self.ctx.is_main:
            after = self.validator.score(model)
            head_refit.update({f"val_{k}_{when}": round(v[f"val_irradiance_{k}"], 6)
                               for when, v in (("before", before), ("after", after))
                               for k in ("median", "worst")})
            log.info("irradiance head refitted", **head_refit)
        return head_refit
