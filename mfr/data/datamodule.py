"""The LightningDataModule shape every dataset plugs into.

Training batches are {"source": {...}, "target": {...}}: source faces with their masked twins and
identities, and (when domain adaptation is on) target images with mask labels, drawn together each
step. Validation runs one loader per `VerificationSet`. Subclasses only say where the training data
comes from, in `build()`; extra verification sets come from `val_sets`, a dict of name -> builder
(any callable returning a VerificationSet, e.g. a Hydra config with `_partial_: true`).
"""

from __future__ import annotations

import os

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, RandomSampler

from typing import Callable

from mfr.data.sets import MaskLabeledFaces, PairedFaces, VerificationSet
from mfr.data.transforms import seed_worker_augment


def resolve_workers(num_workers: int | str) -> int:
    """'auto' means every core but one (for the training loop), at most 12."""
    if num_workers == "auto":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(0, min(12, cores - 1))
    return int(num_workers)


class FaceDataModule(pl.LightningDataModule):
    def __init__(
        self,
        image_size: int = 112,
        batch_size: int = 128,
        target_batch_size: int | None = None,
        val_batch_size: int = 256,
        num_workers: int | str = "auto",
        pin_memory: bool = True,
        use_target: bool = True,
        augment: dict | None = None,
        seed: int = 0,
        monitor: str | None = None,
        val_sets: dict[str, Callable[[], VerificationSet]] | None = None,
    ):
        super().__init__()
        self.image_size, self.batch_size = image_size, batch_size
        self.target_batch_size = target_batch_size or batch_size
        self.val_batch_size = val_batch_size
        self.pin_memory = pin_memory and torch.cuda.is_available()  # page-locked buffers only help a GPU
        self.num_workers = resolve_workers(num_workers)
        self.use_target, self.augment_cfg, self.seed = use_target, dict(augment or {}), seed
        self.monitor = monitor  # the validation metric that picks the best checkpoint
        self.source: PairedFaces | None = None
        self.target: MaskLabeledFaces | None = None
        self.val_sets: list[VerificationSet] = []
        self.val_set_builders = dict(val_sets or {})

    # -- what a subclass provides -------------------------------------------------------------
    def build(self) -> None:
        """Fill self.source, self.target (if use_target) and self.val_sets."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        self.setup("fit")
        return int(self.source.identities.max()) + 1

    # -- Lightning hooks ------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.source is None:
            self.build()
            self.val_sets += [builder() for builder in self.val_set_builders.values() if builder is not None]

    def _loader(self, dataset, batch_size: int, **kwargs) -> DataLoader:
        workers = kwargs.pop("num_workers", self.num_workers)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            num_workers=workers,
            pin_memory=self.pin_memory,
            persistent_workers=workers > 0,
            worker_init_fn=seed_worker_augment,
            **kwargs,
        )

    def train_dataloader(self):
        source = self._loader(self.source, self.batch_size, shuffle=True, drop_last=True)
        if not (self.use_target and self.target is not None):
            return {"source": source}
        # the target loader is sized to the source's epoch, so an epoch is one pass over the source
        steps = len(self.source) // self.batch_size
        sampler = RandomSampler(self.target, replacement=True, num_samples=steps * self.target_batch_size)
        workers = max(1, self.num_workers // 2) if self.num_workers else 0
        target = self._loader(self.target, self.target_batch_size, sampler=sampler, drop_last=True, num_workers=workers)
        return {"source": source, "target": target}

    def val_dataloader(self):
        workers = min(self.num_workers, 2)
        return [self._loader(v.dataset(self.image_size), self.val_batch_size, shuffle=False, num_workers=workers) for v in self.val_sets]
