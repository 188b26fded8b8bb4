"""One epoch of optimiser steps over this process's share of the training split.

:class:`EpochLoop` owns what lives from one epoch to the next: the (DDP-wrapped)
network, AdamW, the learning-rate schedule, the exponential moving average of
the weights, and the step and sample counters. Everything that decides an
epoch's samples is a function of the seed, the epoch and the rank, so a run
repeats exactly when it has no wall-time budget:

* the order is :func:`~monitor.train.splits.epoch_order` drawn from
  ``(seed, 11, epoch)`` and dealt round-robin over the ranks, every rank
  taking the same number of samples (DDP steps in lock-step);
* augmentation draws from a generator seeded by ``(seed, epoch, rank)``.

The training loss of a step is :class:`~monitor.train.batches.TrainingLoss`
plus, when ``saliency_loss_weight > 0``, the localisation term
(:mod:`~monitor.train.localize`) that pulls the true class's CAM onto the flare.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from monitor.models.network import SolarResNet
from monitor.train.batches import BatchInputs, TrainingLoss
from monitor.train.data import Split
from monitor.train.distributed import DistContext
from monitor.train.localize import localisation_loss
from monitor.train.progress import progress
from monitor.train.schedule import LearningRateSchedule, TimeBudget
from monitor.train.settings import TrainConfig
from monitor.train.splits import epoch_order

__all__ = ["EpochLoop", "EpochLosses"]


@dataclass(frozen=True)
class EpochLosses:
    """Mean training losses over one epoch's steps on this process."""

    loss: float
    class_loss: float
    irradiance_loss: float
    #: The time budget ran out during the epoch (its last steps were not taken).
    out_of_time: bool


class EpochLoop:
    """Optimiser steps, an epoch at a time.

    Parameters
    ----------
    config : TrainConfig
        Seed, optimiser, schedule, EMA and loss settings.
    ctx : DistContext
        This process's rank in the group.
    model : SolarResNet
        The network being trained (its frozen ``stats_head`` is left alone).
    train : Split
        The training split.
    z_train : torch.Tensor
        Its lines in target space.
    batches : BatchInputs
        Scaled, augmented inputs.
    loss : TrainingLoss
        The objective.
    budget : TimeBudget
        Wall-time budget; an epoch stops early once it is spent.
    """

    def __init__(self, config: TrainConfig, ctx: DistContext, model: SolarResNet, train: Split,
                 z_train: torch.Tensor, batches: BatchInputs, loss: TrainingLoss,
                 budget: TimeBudget) -> None:
        t = config.training
        self.config = config
        self.ctx = ctx
        self.model = model
        self.train = train
        self.z_train = z_train
        self.batches = batches
        self.loss = loss
        self.budget = budget
        self.net: torch.nn.Module = model
        if ctx.distributed:
            self.net = torch.nn.parallel.DistributedDataParallel(model)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimiser = torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
        self.per_rank_batch = max(1, t.batch_size // ctx.world_size)
        self.per_rank = len(train) // ctx.world_size
        self.steps_per_epoch = max(1, self.per_rank // self.per_rank_batch)
        self.schedule = LearningRateSchedule(t.lr, round(t.warmup_epochs * self.steps_per_epoch),
                                             self.steps_per_epoch * t.epochs, budget)
        # An exponential moving average of the weights (and BN statistics) is what gets
        # validated and kept: with a few epochs on a CPU budget it is markedly steadier
        # than the last iterate.
        self.ema = copy.deepcopy(model) if t.ema_decay > 0 else model
        self.step = 0
        self.seen = 0

    def run(self, epoch: int) -> EpochLosses:
        """Train epoch ``epoch`` (counted from 0); stops early when the budget is spent."""
        t = self.config.training
        ctx = self.ctx
        order = epoch_order(self.train.class_index, t.sampler,
                            np.random.default_rng([self.config.seed, 11, epoch]))
        mine = order[ctx.rank::ctx.world_size][:self.per_rank]
        generator = torch.Generator().manual_seed(int(self.config.seed * 1_000_003
                                                      + epoch * 101 + ctx.rank))
        self.net.train()
        sums = np.zeros(3)
        bar = progress(self.steps_per_epoch, f"epoch {epoch + 1}/{t.epochs}",
                       enabled=t.progress and ctx.is_main)
        out_of_time = False
        for b in range(self.steps_per_epoch):
            rows = mine[b * self.per_rank_batch:(b + 1) * self.per_rank_batch]
            sums += self._step(rows, generator)
            bar.update(1)
            bar.set_postfix(loss=float(sums[0] / (b + 1)))
            if self.budget.exhausted():
                out_of_time = True
                break
        bar.close()
        done_steps = b + 1
        return EpochLosses(loss=float(sums[0] / done_steps),
                           class_loss=float(sums[1] / done_steps),
                           irradiance_loss=float(sums[2] / done_steps), out_of_time=out_of_time)

    def last_lr(self) -> float:
        """The learning rate of the last step taken."""
        return self.schedule.at(self.step - 1)

    def _step(self, rows: np.ndarray, generator: torch.Generator) -> list[float]:
        """One optimiser step on ``rows``; returns its loss, cross-entropy and irradiance loss."""
        t = self.config.training
        device = self.batches.device
        x, angles = self.batches.inputs(self.train, rows, generator)
        classes = torch.from_numpy(self.train.class_index[rows]).to(device)
        z = self.z_train[rows].to(device)
        for group in self.optimiser.param_groups:
            group["lr"] = self.schedule.at(self.step)
        logits, irradiance, features = self.net(x)
        loss, ce, irr = self.loss(logits, irradiance, classes, z)
        if t.saliency_loss_weight > 0:
            sal = localisation_loss(self.model.class_head.weight, features, classes,
                                    self.train.kernels[rows], angles.numpy(),
                                    self.config.model.size, self.model.config.feature_stride)
            loss = loss + t.saliency_loss_weight * sal
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        if self.ema is not self.model:
            _ema_update(self.ema, self.model, min(t.ema_decay, (1 + self.step) / (10 + self.step)))
        self.step += 1
        self.seen += len(rows) * self.ctx.world_size
        return [loss.item(), ce.item(), irr.item()]


def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * model`` for float tensors; copy the rest."""
    with torch.no_grad():
        live = model.state_dict()
        for name, value in ema.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(decay).add_(live[name].detach(), alpha=1.0 - decay)
            else:
                value.copy_(live[name])
