"""Training samplers whose draws change every epoch and agree across ranks.

Each draws from a generator seeded by (seed, epoch). Lightning calls `set_epoch` every epoch, and
under DDP wraps these samplers in a DistributedSamplerWrapper that forwards `set_epoch` and deals
each rank its own share of the draws; a RandomSampler it would replace by a DistributedSampler over
the whole dataset instead, losing what the sampler is for.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Sampler


class EpochDraws(Sampler[int]):
    """A sampler drawing afresh every epoch from (seed, epoch): the same on every rank, different each epoch."""

    def __init__(self, seed: int):
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch])


class TargetDraws(EpochDraws):
    """`count` target indices drawn with replacement: the target loader's epoch is tied to the source's,
    not to the target set's size."""

    def __init__(self, size: int, count: int, seed: int):
        super().__init__(seed)
        self.size, self.count = size, count

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        return iter(self.rng().integers(0, self.size, self.count).tolist())


class CappedIdentities(EpochDraws):
    """Every epoch at most `cap` images of each identity (a fresh random choice), in random order.

    Real datasets are unbalanced (LFW: one person has 530 photos, most have a handful); uncapped, a few
    people dominate the identity loss and the epoch. Over epochs every image still gets its turn.
    """

    def __init__(self, identities: np.ndarray, cap: int, seed: int):
        super().__init__(seed)
        identities = np.asarray(identities)
        order = np.argsort(identities, kind="stable")
        self.groups = np.split(order, np.flatnonzero(np.diff(identities[order])) + 1)
        self.cap = int(cap)

    def __len__(self) -> int:
        return sum(min(len(g), self.cap) for g in self.groups)

    def __iter__(self):
        rng = self.rng()
        chosen = np.concatenate([rng.choice(g, min(len(g), self.cap), replace=False) for g in self.groups])
        return iter(rng.permutation(chosen).tolist())
