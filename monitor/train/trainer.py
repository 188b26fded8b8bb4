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
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from monitor.logs import get_logger
from monitor.models.network import NetworkConfig, SolarResNet, build_network
from monitor.train.augment import Augmenter
from monitor.train.data import Split
from monitor.train.distributed import DistContext
from monitor.train.heads import gather_rows, select_ridge
from monitor.train.localize import localisation_loss
from monitor.train.metrics import irradiance_errors, threshold_scores
from monitor.train.normalize import Normalization
from monitor.train.progress import progress
from monitor.train.settings import TrainConfig
from monitor.train.splits import class_weights, epoch_order

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
        self.config = config
        self.norm = norm
        self.train = train
        self.val = val
        self.ctx = ctx
        self.line_names = line_names
        self.device = torch.device(config.training.device if not ctx.distributed or
                                   not config.training.device.startswith("cuda")
                                   else f"cuda:{ctx.local_rank}")
        self.augmenter = Augmenter(config.augment, config.model.channels, config.model.size,
                                   norm.offset, seed=config.seed)
        counts = train.class_counts(4)
        self.class_weight = torch.tensor(class_weights(counts, config.training.class_weighting),
                                         dtype=torch.float32, device=self.device)
        self.line_std = torch.tensor(norm.line_std, dtype=torch.float32, device=self.device)
        self.z_train = torch.tensor(norm.targets(train.irradiance), dtype=torch.float32)
        self.z_val = torch.tensor(norm.targets(val.irradiance), dtype=torch.float32)

    # -- batches -----------------------------------------------------------------------

    def _inputs(self, split: Split, rows: np.ndarray, generator: torch.Generator | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled batch (augmented when ``generator`` is given) and each sample's roll."""
        log_images = self.norm.log_batch(split.images[np.sort(rows)])
        order = torch.from_numpy(np.argsort(np.argsort(rows)))
        log_images = log_images[order]
        angles = torch.zeros(len(rows))
        if generator is not None:
            log_images, angles = self.augmenter.with_angles(log_images, generator)
        return self.norm.network_input(log_images).to(self.device), angles

    def _loss(self, logits: torch.Tensor, irradiance: torch.Tensor, classes: torch.Tensor,
              z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t = self.config.training
        ce = F.cross_entropy(logits, classes, weight=self.class_weight)
        # Missing lines (NaN targets: real EVE data) add nothing to the loss.
        known = torch.isfinite(z)
        err = torch.where(known, (irradiance - z) * self.line_std / t.irradiance_scale_dex, 0.0)
        irr = (F.huber_loss(err, torch.zeros_like(err), delta=1.0, reduction="sum")
               / known.sum().clamp_min(1))
        return t.class_loss_weight * ce + t.irradiance_loss_weight * irr, ce, irr

    # -- step 1: the linear model -----------------------------------------------------

    def _batched(self, rows: np.ndarray, fn: Callable[[torch.Tensor], torch.Tensor],
                 split: Split | None = None) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(rows), 64):
                x, _ = self._inputs(split or self.train, rows[start:start + 64], None)
                out.append(fn(x).double().cpu().numpy())
        return np.concatenate(out)

    def _fit_with_validation(self, fn: Callable[[torch.Tensor], torch.Tensor], width: int,
                             offset: int = 0) -> tuple[np.ndarray, list[float]]:
        """Ridge-selected Huber fit of the targets on ``fn``'s features.

        ``fn(x)`` gives ``width`` columns per image; columns from ``offset`` on are a
        fixed part of the prediction (subtracted from the targets), the first
        ``offset`` (all when 0) are the design.
        """
        train = gather_rows(len(self.train), width, self.ctx,
                            lambda rows: self._batched(rows, fn))
        val = self._batched(np.arange(len(self.val)), fn, self.val)
        z_train = self.z_train.double().numpy()
        z_val = self.z_val.double().numpy()
        if offset:
            z_train, z_val = z_train - train[:, offset:], z_val - val[:, offset:]
            train, val = train[:, :offset], val[:, :offset]
        return select_ridge(np.c_[train, np.ones(len(train))], z_train,
                            np.c_[val, np.ones(len(val))], z_val,
                            np.asarray(self.norm.line_std),
                            self.config.training.irradiance_scale_dex)

    def fit_linear_head(self, model: SolarResNet) -> dict[str, Any]:
        """Robust fit of ``stats_head`` on every training image, then freeze it."""
        model.eval()
        channels = len(self.config.model.channels)
        w, ridges = self._fit_with_validation(model.image_stats, 2 * channels)
        with torch.no_grad():
            model.stats_head.weight.copy_(torch.from_numpy(w[:-1].T).float())
            model.stats_head.bias.copy_(torch.from_numpy(w[-1]).float())
        for p in model.stats_head.parameters():
            p.requires_grad_(False)
        return {"samples": len(self.train), "features": 2 * channels,
                "loss": f"Huber, knee {self.config.training.irradiance_scale_dex} dex (IRLS)",
                "ridge_per_line": ridges}

    def refit_irradiance_head(self, model: SolarResNet) -> dict[str, Any]:
        """Refit ``irradiance_head`` on the pooled features of every training image."""
        model.eval()
        f = model.config.feature_channels

        def pooled_and_linear(x: torch.Tensor) -> torch.Tensor:
            pooled = torch.flatten(model.pool(model.backbone(x)), 1)
            return torch.cat([pooled, model.linear_irradiance(x)], 1)

        # The design is the pooled features; the linear part stays fixed (targets minus it).
        w_full, ridges = self._fit_with_validation(pooled_and_linear,
                                                   f + self.z_train.shape[1], offset=f)
        with torch.no_grad():
            model.irradiance_head.weight.copy_(torch.from_numpy(w_full[:-1].T).float())
            model.irradiance_head.bias.copy_(torch.from_numpy(w_full[-1]).float())
        return {"samples": len(self.train), "features": f, "ridge_per_line": ridges}

    # -- step 2: the CNN --------------------------------------------------------------

    def build_model(self) -> SolarResNet:
        """The network with the configured shape and seed."""
        return build_network(network_config(self.config, 4, len(self.line_names)),
                             seed=self.config.seed).to(self.device)

    def run(self, model: SolarResNet | None = None) -> TrainResult:
        """Fit the linear model, then train the CNN; returns the best epoch's model."""
        cfg = self.config
        t_cfg = cfg.training
        ctx = self.ctx
        model = model or self.build_model()
        linear_fit = self.fit_linear_head(model)
        net: torch.nn.Module = model
        if ctx.distributed:
            net = torch.nn.parallel.DistributedDataParallel(model)
        params = [p for p in model.parameters() if p.requires_grad]
        optimiser = torch.optim.AdamW(params, lr=t_cfg.lr, weight_decay=t_cfg.weight_decay)
        n = len(self.train)
        per_rank_batch = max(1, t_cfg.batch_size // ctx.world_size)
        per_rank = n // ctx.world_size
        steps_per_epoch = max(1, per_rank // per_rank_batch)
        total_steps = steps_per_epoch * t_cfg.epochs
        warmup = round(t_cfg.warmup_epochs * steps_per_epoch)

        budget_s = t_cfg.max_minutes * 60.0 if t_cfg.max_minutes > 0 else math.inf
        start = time.monotonic()

        def lr_at(step: int) -> float:
            if step < warmup:
                return t_cfg.lr * (step + 1) / warmup
            # With a wall-time budget the cosine runs on whichever is further along, steps
            # or time, so a run cut short by the budget still ends annealed, not at a high
            # learning rate. Without one, the schedule depends on steps only (repeatable).
            p = (step - warmup) / max(1, total_steps - warmup)
            if budget_s < math.inf:
                p = max(p, (time.monotonic() - start) / budget_s)
            return t_cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(p, 1.0)))

        # An exponential moving average of the weights (and BN statistics) is what gets
        # validated and kept: with a few epochs on a CPU budget it is markedly steadier
        # than the last iterate.
        ema = copy.deepcopy(model) if t_cfg.ema_decay > 0 else model
        history: list[EpochRecord] = []
        best_loss = math.inf
        best_epoch = -1
        best_state = copy.deepcopy(model.state_dict())
        stale = 0
        step = 0
        seen = 0
        stop_reason = "epochs"
        for epoch in range(t_cfg.epochs):
            t0 = time.monotonic()
            order = epoch_order(self.train.class_index, t_cfg.sampler,
                                np.random.default_rng([cfg.seed, 11, epoch]))
            mine = order[ctx.rank::ctx.world_size][:per_rank]
            generator = torch.Generator().manual_seed(int(cfg.seed * 1_000_003 + epoch * 101
                                                          + ctx.rank))
            net.train()
            sums = np.zeros(3)
            bar = progress(steps_per_epoch, f"epoch {epoch + 1}/{t_cfg.epochs}",
                           enabled=t_cfg.progress and ctx.is_main)
            out_of_time = False
            for b in range(steps_per_epoch):
                rows = mine[b * per_rank_batch:(b + 1) * per_rank_batch]
                x, angles = self._inputs(self.train, rows, generator)
                classes = torch.from_numpy(self.train.class_index[rows]).to(self.device)
                z = self.z_train[rows].to(self.device)
                for group in optimiser.param_groups:
                    group["lr"] = lr_at(step)
                logits, irradiance, features = net(x)
                loss, ce, irr = self._loss(logits, irradiance, classes, z)
                if t_cfg.saliency_loss_weight > 0:
                    sal = localisation_loss(model.class_head.weight, features, classes,
                                            self.train.kernels[rows], angles.numpy(),
                                            cfg.model.size, model.config.feature_stride)
                    loss = loss + t_cfg.saliency_loss_weight * sal
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                if ema is not model:
                    _ema_update(ema, model, min(t_cfg.ema_decay, (1 + step) / (10 + step)))
                step += 1
                seen += len(rows) * ctx.world_size
                sums += [loss.item(), ce.item(), irr.item()]
                bar.update(1)
                bar.set_postfix(loss=float(sums[0] / (b + 1)))
                if time.monotonic() - start > budget_s:
                    out_of_time = True
                    break
            bar.close()
            done_steps = b + 1
            record = None
            improved = False
            if ctx.is_main:
                val = self.validate(ema)
                record = EpochRecord(
                    epoch=epoch + 1, train_loss=float(sums[0] / done_steps),
                    train_class_loss=float(sums[1] / done_steps),
                    train_irradiance_loss=float(sums[2] / done_steps), **val,
                    lr=lr_at(step - 1), seconds=time.monotonic() - t0, samples=seen)
                history.append(record)
                improved = record.val_loss < best_loss - t_cfg.min_delta
                if improved:
                    best_loss, best_epoch = record.val_loss, epoch + 1
                    best_state = copy.deepcopy(ema.state_dict())
                log.info("epoch done", **{k: round(v, 5) if isinstance(v, float) else v
                                          for k, v in asdict(record).items()})
            improved = ctx.broadcast_flag(improved)
            stale = 0 if improved else stale + 1
            if ctx.broadcast_flag(out_of_time):
                stop_reason = "time budget"
                break
            if stale >= t_cfg.patience:
                stop_reason = f"early stopping ({t_cfg.patience} epochs without gain)"
                break
        model.load_state_dict(best_state)
        if ctx.distributed:
            # Rank 0's best weights everywhere (ranks only diverge in BN buffers).
            for tensor in model.state_dict().values():
                torch.distributed.broadcast(tensor, src=0)
        model.eval()
        head_refit: dict[str, Any] = {}
        if t_cfg.refit_irradiance_head:
            before = self.validate(model) if ctx.is_main else {}
            head_refit = self.refit_irradiance_head(model)
            if ctx.is_main:
                after = self.validate(model)
                head_refit.update({f"val_{k}_{when}": round(v[f"val_irradiance_{k}"], 6)
                                   for when, v in (("before", before), ("after", after))
                                   for k in ("median", "worst")})
                log.info("irradiance head refitted", **head_refit)
        return TrainResult(model=model, history=history, best_epoch=best_epoch,
                           stop_reason=stop_reason, seconds=time.monotonic() - start,
                           samples_seen=seen, linear_fit=linear_fit, head_refit=head_refit)

    def validate(self, model: SolarResNet) -> dict[str, float]:
        """Validation loss and the scores the curve shows."""
        model.eval()
        n = len(self.val)
        probs, irr_z, sums = [], [], np.zeros(3)
        with torch.no_grad():
            for start in range(0, n, 64):
                rows = np.arange(start, min(n, start + 64))
                x, _ = self._inputs(self.val, rows, None)
                logits, irradiance, _ = model(x)
                classes = torch.from_numpy(self.val.class_index[rows]).to(self.device)
                loss, ce, irr = self._loss(logits, irradiance, classes,
                                           self.z_val[rows].to(self.device))
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


def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * model`` for float tensors; copy the rest."""
    with torch.no_grad():
        live = model.state_dict()
        for name, value in ema.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(decay).add_(live[name].detach(), alpha=1.0 - decay)
            else:
                value.copy_(live[name])
