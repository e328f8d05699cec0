"""Multi-process data-parallel training: the only module that imports torch.distributed.

Launched by ``torchrun`` (which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), or by
anything else that sets those variables. gloo on CPU, nccl on CUDA. One process without those
variables is world size 1: every helper below is then a no-op.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..precision import resolve_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Env:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> Env:
    """Join the process group if launched with WORLD_SIZE > 1 (idempotent); return this process's Env."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Env(device=resolve_device(device, setting="run.device"))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank, "run.device")
    if not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend)
        log.debug("rank %d/%d joined the %s process group on %s", rank, world, backend, dev)
    return Env(rank, world, local_rank, dev)


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: nn.Module, env: Env) -> nn.Module:
    """DistributedDataParallel around ``module`` when world size > 1 (it broadcasts rank 0's weights)."""
    if not env.distributed:
        return module
    ids = [env.device.index] if env.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def sync_batchnorm(module: nn.Module) -> nn.Module:
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


def any_true(flag: bool, env: Env) -> bool:
    """True on every rank if ``flag`` is true on any rank (one tiny all-reduce)."""
    if not env.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=env.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def mean(values: dict[str, float], env: Env) -> dict[str, float]:
    """Average a dict of floats over ranks (for logging)."""
    if not env.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=env.device)
    dist.all_reduce(t)
    return {k: float(v) / env.world_size for k, v in zip(keys, t.tolist())}


def gather_objects(obj, env: Env) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every rank (pickled; for per-rank RNG/pool states)."""
    if not env.distributed:
        return [obj]
    out = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(env: Env) -> None:
    if env.distributed:
        dist.barrier()
