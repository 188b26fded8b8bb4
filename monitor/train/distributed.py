"""Distributed data parallel (DDP) when launched by ``torchrun``; a no-op otherwise.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` for every process; the same ``sdo-monitor train`` entry point
reads them and joins the process group (gloo on CPU, NCCL on CUDA). Each
process trains on its own shard of every epoch; gradients are averaged by
``DistributedDataParallel``; only rank 0 validates, evaluates and writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from monitor.logs import get_logger

__all__ = ["DistContext", "init_distributed"]

log = get_logger(__name__)


@dataclass(frozen=True)
class DistContext:
    """This process's place in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        """True inside a multi-process group."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes outputs and shows progress."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every process (no-op alone)."""
        if self.distributed:
            dist.barrier()

    def broadcast_flag(self, value: bool) -> bool:
        """Rank 0's ``value`` on every process."""
        if not self.distributed:
            return value
        t = torch.tensor([1 if value else 0], dtype=torch.int64)
        dist.broadcast(t, src=0)
        return bool(t.item())

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over processes (in place; CPU tensors with gloo)."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def close(self) -> None:
        """Leave the process group."""
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: str = "cpu") -> DistContext:
    """Join the torchrun process group when the environment says so.

    Parameters
    ----------
    device : str
        ``cpu`` uses the gloo backend, ``cuda...`` NCCL (one GPU per local rank).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local)
    # Drawing the sample cache happens on one process while the others wait.
    dist.init_process_group(backend=backend, timeout=timedelta(hours=3))
    log.info("joined process group", rank=rank, world_size=world, backend=backend)
    return DistContext(rank=rank, world_size=world, local_rank=local)
