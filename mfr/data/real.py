"""`RealDataModule`: training on datasets from disk (JPEG folders, RecordIO or packs).

The config names builders, each a callable returning a FaceTable (usually `_partial_: true`):
- `source`: faces with identities and, for models trained on twins, their masked twins
  (e.g. CASIA-WebFace + MCASIA twins: `mfr.data.readers.sources.open_faces` with `twins`);
- `target`: real faces with mask labels for the discriminator (e.g. RMFD_DA: `mfr.data.readers.rmfd.rmfd_da`);
- `val_sets` (from FaceDataModule): name -> builder of a VerificationSet (e.g. RMFD_FV);
- `holdout`: people of the source kept out of training as a verification set of their own
  (`mfr.data.holdout`: unmasked-unmasked and twin-unmasked pairs), so identity learning shows
  before it transfers to the target's real masks.
This module turns them into training datasets: contiguous identity labels, twin pairs, the train
augmentation, and `SkipCorrupt` so an unreadable file costs one substituted sample, not the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from mfr.data.datamodule import FaceDataModule
from mfr.data.holdout import holdout_set, split_source
from mfr.data.readers.io import SkipCorrupt
from mfr.data.readers.table import FaceTable, Rows
from mfr.data.sets import MaskLabeledFaces, PairedFaces, VerificationSet
from mfr.data.transforms import build_augment
from mfr.errors import ConfigError

log = logging.getLogger(__name__)


def source_dataset(table: FaceTable, augment_cfg: dict, image_size: int, seed: int, masked_twins: bool) -> PairedFaces:
    """(face, masked twin, identity) samples of the faces that have a twin; (face, identity) if not `masked_twins`."""
    if masked_twins:
        rows = np.flatnonzero(table.twin >= 0)
        if not len(rows):
            raise ConfigError(
                "data.source.twins: the model trains on masked twins (model.masked_twins=true) and the source has none: "
                "set data.source.twins to the output folder of `python -m mask_synth SOURCE_ROOT TWINS`, "
                "or train without twins (experiment=baseline_arcface)"
            )
        masked = Rows(table.images, table.twin[rows])
    else:
        is_twin = np.zeros(len(table), bool)
        is_twin[table.twin[table.twin >= 0]] = True
        rows, masked = np.flatnonzero(~is_twin), None
    _, labels = np.unique(table.identity[rows], return_inverse=True)
    augment = build_augment(image_size, paired=masked_twins, seed=seed, **augment_cfg)
    return PairedFaces(Rows(table.images, rows), masked, labels, augment)


def target_dataset(table: FaceTable, augment_cfg: dict, image_size: int, seed: int) -> MaskLabeledFaces:
    """(real face, mask label) samples of the images whose mask label is known."""
    rows = np.flatnonzero(table.mask >= 0)
    counts = np.bincount(table.mask[rows], minlength=2)
    if counts.min() == 0:
        raise ConfigError(
            f"data.target: the target needs masked and unmasked images, found {counts[1]} masked and {counts[0]} unmasked"
        )
    augment = build_augment(image_size, seed=seed, **augment_cfg)
    return MaskLabeledFaces(Rows(table.images, rows), table.mask[rows].astype(np.int64), augment)


class RealDataModule(FaceDataModule):
    def __init__(
        self,
        source: Callable[[], FaceTable] | None = None,
        target: Callable[[], FaceTable] | None = None,
        masked_twins: bool = True,
        root: str | None = None,
        holdout: dict | None = None,
        **kwargs,
    ):
        """`masked_twins`: the model trains on masked twins (model.masked_twins); `root`: the folder the
        config's builders read (its `${data.root}`), kept for messages; `holdout`: {identities, num_pairs,
        folds, seed, name} of the held-out source people (None: train on all of them)."""
        super().__init__(**kwargs)
        self.source_builder, self.target_builder = source, target
        self.masked_twins, self.root = masked_twins, root
        self.holdout = dict(holdout) if holdout else None
        self.held_out: VerificationSet | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.source_builder is None and stage in (None, "fit"):
            raise ConfigError(
                "data.source: this data config holds only a target and verification sets (it serves mfr.evaluate); "
                "to train, use one with a source, e.g. data=casia, or set data.source"
            )
        built = self.source is not None
        super().setup(stage)
        if not built and self.held_out is not None:
            self.val_sets.append(self.held_out)  # after the configured sets, so the first stays the headline

    def build(self) -> None:
        if self.source_builder is None:  # evaluation only: the verification sets, no training data
            self.source = PairedFaces([], None, np.zeros(0, np.int64))
            return
        table = self.source_builder()
        if self.holdout:
            settings = dict(self.holdout)
            full = table
            table, held = split_source(full, settings.pop("identities"), settings["seed"])
            self.held_out = holdout_set(full, held, image_size=self.image_size, **settings)
        self.source = SkipCorrupt(
            source_dataset(table, self.augment_cfg, self.image_size, self.seed, self.masked_twins), "source"
        )
        if self.use_target:
            if self.target_builder is None:
                raise ConfigError(
                    "data.target: data.use_target=true needs a target dataset with mask labels (e.g. RMFD_DA): the DA loss "
                    "trains on it and every ablation cell forwards it; set data.target, or data.use_target=false (no DA)"
                )
            self.target = SkipCorrupt(
                target_dataset(self.target_builder(), self.augment_cfg, self.image_size, self.seed + 1), "target"
            )
        target = (
            f"{len(self.target)} target images ({int(self.target.mask_labels.sum())} masked)"
            if self.target is not None
            else "no target"
        )
        log.info(
            "data: %d source faces of %d identities%s; %s (data.root: %s)",
            len(self.source),
            self.num_classes,
            " with masked twins" if self.masked_twins else "",
            target,
            self.root,
        )

    def teardown(self, stage: str) -> None:
        """Say how many unreadable training images were replaced (each was logged when it happened)."""
        for name, dataset in (("source", self.source), ("target", self.target)):
            if isinstance(dataset, SkipCorrupt) and dataset.skipped:
                log.warning(
                    "data.%s: %d reads hit an unreadable image and were served the next sample instead (see the warnings above)",
                    name,
                    dataset.skipped,
                )
