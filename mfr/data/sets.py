"""What the DataModule hands the model: paired source faces, mask-labelled target faces, verification sets.

Samples are dicts of uint8 CHW tensors plus labels; normalisation happens on the training device,
so the loader moves a quarter of the bytes float32 would need.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from mfr.data.readers.io import SkippedImages, read_all

if TYPE_CHECKING:
    from mfr.data.readers.table import FaceTable

log = logging.getLogger(__name__)

# An augmentation takes and returns HxWx3 uint8 images; paired ones get the same random draw.
Augment = Callable[..., dict]


def to_chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


class PairedFaces(Dataset):
    """Source domain: (unmasked image, its synthetic masked twin, identity).

    `masked=None` serves faces without twins (samples have no "masked"), for models trained
    without them (model.masked_twins=false).
    """

    def __init__(self, images, masked, identities: np.ndarray, augment: Augment | None = None):
        if len(images) != len(identities) or (masked is not None and len(masked) != len(images)):
            twins = "no" if masked is None else len(masked)
            raise ValueError(
                f"paired faces disagree in length: {len(images)} images, {twins} twins, {len(identities)} labels"
            )
        self.images, self.masked, self.identities, self.augment = images, masked, np.asarray(identities), augment

    def __len__(self) -> int:
        return len(self.identities)

    def __getitem__(self, i: int) -> dict:
        if self.masked is None:
            image = self.images[i] if self.augment is None else self.augment(image=self.images[i])["image"]
            return {"image": to_chw(image), "identity": int(self.identities[i])}
        image, masked = self.images[i], self.masked[i]
        if self.augment is not None:
            out = self.augment(image=image, masked=masked)
            image, masked = out["image"], out["masked"]
        return {"image": to_chw(image), "masked": to_chw(masked), "identity": int(self.identities[i])}


class MaskLabeledFaces(Dataset):
    """Target domain: real images that carry only a mask label (0 unmasked, 1 masked)."""

    def __init__(self, images, mask_labels: np.ndarray, augment: Augment | None = None):
        self.images, self.mask_labels, self.augment = images, np.asarray(mask_labels), augment

    def __len__(self) -> int:
        return len(self.mask_labels)

    def __getitem__(self, i: int) -> dict:
        image = self.images[i]
        if self.augment is not None:
            image = self.augment(image=image)["image"]
        return {"image": to_chw(image), "mask": int(self.mask_labels[i])}


class IndexedImages(Dataset):
    """Evaluation images with their index, so embeddings can be put back in order after a sharded pass.

    Images of another size are resized (area interpolation) to `image_size`. With `masked` (one 0/1
    flag per image) each item also says whether its face wears a mask, for models that embed masked
    faces their own way (SRT's unmasking model).
    """

    def __init__(self, images, image_size: int | None = None, masked: np.ndarray | None = None):
        if masked is not None and len(masked) != len(images):
            raise ValueError(f"{len(masked)} masked flags for {len(images)} images")
        self.images, self.image_size = images, image_size
        self.masked = None if masked is None else np.asarray(masked).astype(bool)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        image = self.images[i]
        if self.image_size and image.shape[:2] != (self.image_size, self.image_size):
            image = cv2.resize(image, (self.image_size, self.image_size), interpolation=cv2.INTER_AREA)
        item = {"image": to_chw(image), "index": i}
        if self.masked is not None:
            item["masked"] = bool(self.masked[i])
        return item


@dataclass
class VerificationSet:
    """Images plus pairs of indices into them; `same[p]` says whether pair p shows one person.

    `folds[p]` is pair p's fold for 10-fold accuracy (None: contiguous folds). `meta` holds per-image
    arrays such as `identity`, `masked` (0/1) or `mask_type`, for breakdowns.
    """

    name: str
    images: Sequence
    pairs: np.ndarray
    same: np.ndarray
    folds: np.ndarray | None = None
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        self.pairs = np.asarray(self.pairs, dtype=np.int64).reshape(-1, 2)
        self.same = np.asarray(self.same, dtype=bool)
        if len(self.pairs) != len(self.same):
            raise ValueError(f"{self.name}: {len(self.pairs)} pairs but {len(self.same)} labels")
        if len(self.pairs) and (self.pairs.min() < 0 or self.pairs.max() >= len(self.images)):
            raise ValueError(f"{self.name}: a pair points outside its {len(self.images)} images")

    def dataset(self, image_size: int | None = None) -> IndexedImages:
        """The images as a Dataset; items carry their `masked` flag when the set has one."""
        return IndexedImages(self.images, image_size, self.meta.get("masked"))


def read_verification_set(
    name: str,
    table: FaceTable,
    pairs: np.ndarray,
    same: np.ndarray,
    folds: np.ndarray | None,
    meta: Callable[[np.ndarray], dict[str, np.ndarray]],
    image_size: int | None = None,
    skipped: SkippedImages | None = None,
) -> VerificationSet:
    """The verification set of `pairs` (row pairs of `table`), each of its images decoded once (resized to
    `image_size`). Unreadable images are reported (with those already in `skipped`) and the pairs that show one
    dropped with a warning, so none goes missing unnoticed. `meta(rows)`: the per-image arrays of the rows kept."""
    skipped = skipped if skipped is not None else SkippedImages(name)
    used, index = np.unique(pairs, return_inverse=True)
    images = read_all(table.select(used).images, skipped, size=image_size)
    if len(skipped):
        skipped.report(len(used))
    readable = np.array([image is not None for image in images], bool)
    index = index.reshape(-1, 2)
    keep = readable[index].all(1)
    if not keep.all():
        log.warning("%s: dropped %d of %d pairs showing an unreadable image", name, int((~keep).sum()), len(keep))
    renumber = np.cumsum(readable) - 1  # index among the readable images
    return VerificationSet(
        name,
        [image for image in images if image is not None],
        renumber[index[keep]],
        np.asarray(same)[keep],
        None if folds is None else np.asarray(folds)[keep],
        meta(used[readable]),
    )
