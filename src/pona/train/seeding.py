"""What makes a run reproducible: the order of the training pairs and the seeds of every random stream.

The order is a pure function of (seed, epoch), split over processes like DistributedSampler, so a
resumed run needs only the iteration number to continue the data stream mid-epoch.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import DistributedSampler


def epoch_order(n: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1) -> list[int]:
    """This process's share of a shuffled pass over ``n`` pairs: DistributedSampler's order
    (permutation seeded by seed + epoch, every world_size-th index from ``rank``, tail dropped)."""
    sampler = DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=True,
                                 seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    return list(sampler)


def derived_seed(*parts: int) -> int:
    """A 32-bit seed from integers (run seed, rank, purpose), independent streams per tuple."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
