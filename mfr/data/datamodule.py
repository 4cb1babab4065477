"""The LightningDataModule shape every dataset plugs into.

Training batches are {"source": {...}, "target": {...}}: source faces with their masked twins and
identities, and (when domain adaptation is on) target images with mask labels, drawn together each
step. Validation runs one loader per `VerificationSet`. Subclasses only say where the training data
comes from, in `build()`; extra verification sets come from `val_sets`, a dict of name -> builder
(any callable returning a VerificationSet, e.g. a Hydra config with `_partial_: true`).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable

import cv2
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from mfr.data.samplers import CappedIdentities, TargetDraws
from mfr.data.sets import MaskLabeledFaces, PairedFaces, VerificationSet
from mfr.data.transforms import seed_augment, seed_loader_worker


def resolve_workers(num_workers: int | str, processes_per_node: int = 1) -> int:
    """'auto' shares the node's cores among its training processes: each gets its share less one (for its
    training loop), at most 12. Under SLURM, SLURM_CPUS_PER_TASK is already one process's share."""
    if num_workers != "auto":
        return int(num_workers)
    if os.environ.get("SLURM_CPUS_PER_TASK"):
        share = int(os.environ["SLURM_CPUS_PER_TASK"])
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        share = cores // processes_per_node
    return max(0, min(12, share - 1))


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
        max_per_identity: int | None = None,
    ):
        super().__init__()
        self.image_size, self.batch_size = image_size, batch_size
        self.target_batch_size = target_batch_size or batch_size
        self.val_batch_size = val_batch_size
        self.pin_memory = pin_memory and torch.cuda.is_available()  # page-locked buffers only help a GPU
        self.workers_setting = num_workers
        self.use_target, self.augment_cfg, self.seed = use_target, dict(augment or {}), seed
        self.monitor = monitor  # the validation metric that picks the best checkpoint
        self.source: PairedFaces | None = None
        self.target: MaskLabeledFaces | None = None
        self.val_sets: list[VerificationSet] = []
        self.val_set_builders = dict(val_sets or {})
        self.max_per_identity = max_per_identity  # images of one identity per epoch at most (None: all)

    @property
    def num_workers(self) -> int:
        """This process's loader workers; 'auto' divides the node's cores among the trainer's processes on it."""
        return resolve_workers(self.workers_setting, self.trainer.num_devices if self.trainer is not None else 1)

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
        """A loader whose augmentations draw their own random stream on every rank (and in every worker)."""
        workers = kwargs.pop("num_workers", self.num_workers)
        rank = self.trainer.global_rank if self.trainer is not None else 0
        if workers == 0:  # the main process draws them, from a seed made as a worker's is: torch's RNG and the rank
            seed_augment(dataset, int(torch.empty((), dtype=torch.int64).random_().item()), rank)
        else:
            # one OpenCV thread per worker (parallelism comes from the workers, as mfr.data.bench measures), set
            # here for them to inherit: a forked worker that resizes the thread pool of this process hangs for
            # good (in pthread_cond_destroy, waiting for pool threads that exist only here)
            cv2.setNumThreads(1)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            num_workers=workers,
            pin_memory=self.pin_memory,
            persistent_workers=workers > 0,
            worker_init_fn=functools.partial(seed_loader_worker, rank=rank),
            **kwargs,
        )

    def train_dataloader(self):
        if self.max_per_identity:
            capped = CappedIdentities(self.source.identities, self.max_per_identity, self.seed)
            source, epoch = self._loader(self.source, self.batch_size, sampler=capped, drop_last=True), len(capped)
        else:
            source, epoch = self._loader(self.source, self.batch_size, shuffle=True, drop_last=True), len(self.source)
        if not (self.use_target and self.target is not None):
            return {"source": source}
        # the target loader is sized to the source's epoch, so an epoch is one pass over the source: under DDP
        # each rank's share of the source (DistributedSampler pads it to ceil(n / ranks)), and as many target
        # batches per rank, drawn for all ranks at once
        ranks = self.trainer.world_size if self.trainer is not None else 1
        steps = math.ceil(epoch / ranks) // self.batch_size
        sampler = TargetDraws(len(self.target), steps * self.target_batch_size * ranks, self.seed)
        workers = max(1, self.num_workers // 2) if self.num_workers else 0
        target = self._loader(self.target, self.target_batch_size, sampler=sampler, drop_last=True, num_workers=workers)
        return {"source": source, "target": target}

    def val_dataloader(self):
        workers = min(self.num_workers, 2)
        return [
            self._loader(v.dataset(self.image_size), self.val_batch_size, shuffle=False, num_workers=workers)
            for v in self.val_sets
        ]
