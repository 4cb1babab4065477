"""`FaceTable`: every image of a dataset and what is known about it, whatever the storage.

Each reader (identity folders, RMFD, RecordIO, a packed dataset, mask_synth twins) produces a
FaceTable; splitting, pairing, packing and the DataModule only ever see FaceTables, so they work the
same on JPEG folders and on memory-mapped packs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

UNKNOWN = -1  # mask label of an image whose dataset does not say


class Rows:
    """A lazy view of some rows of an indexable of images (no image is read until asked for)."""

    def __init__(self, images: Sequence, rows: np.ndarray):
        self.images, self.rows = images, np.asarray(rows, np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.images[int(self.rows[i])]


class Concat:
    """Two indexables of images read as one: `a`'s images, then `b`'s."""

    def __init__(self, a: Sequence, b: Sequence):
        self.a, self.b = a, b

    def __len__(self) -> int:
        return len(self.a) + len(self.b)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.a[i] if i < len(self.a) else self.b[i - len(self.a)]


@dataclass
class FaceTable:
    """Images with per-image identity, mask label and masked-twin link.

    images:   index -> HxWx3 uint8 RGB (decoded on access from files, RecordIO, or a memmap)
    keys:     per image, its path relative to the dataset root: names it in reports and pairs files
    identity: per image, an index into `names`
    mask:     per image, 1 masked, 0 unmasked, UNKNOWN when the dataset does not say
    twin:     per image, the row of its synthetic masked twin, -1 for none
    """

    images: Sequence
    keys: list[str]
    identity: np.ndarray
    names: list[str]
    mask: np.ndarray
    twin: np.ndarray

    def __post_init__(self):
        n = len(self.keys)
        self.identity = np.asarray(self.identity, np.int64)
        self.mask = np.asarray(self.mask, np.int8)
        self.twin = np.asarray(self.twin, np.int64)
        if not (len(self.images) == n == len(self.identity) == len(self.mask) == len(self.twin)):
            raise ValueError(
                f"face table columns disagree: {len(self.images)} images, {n} keys, {len(self.identity)} identities, "
                f"{len(self.mask)} mask labels, {len(self.twin)} twin links"
            )

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def has_twins(self) -> bool:
        return bool((self.twin >= 0).any())

    def select(self, rows: np.ndarray) -> FaceTable:
        """The table of `rows` only; a twin link to a row left out becomes -1."""
        rows = np.asarray(rows, np.int64)
        new_row = np.full(len(self) + 1, -1, np.int64)  # the extra slot maps twin == -1 to -1
        new_row[rows] = np.arange(len(rows))
        return FaceTable(
            Rows(self.images, rows),
            [self.keys[r] for r in rows],
            self.identity[rows],
            self.names,
            self.mask[rows],
            new_row[self.twin[rows]],
        )

    def with_identities(self, names: Sequence[str]) -> FaceTable:
        """The images of the named identities."""
        names = set(names)
        wanted = np.array([name in names for name in self.names], bool)
        return self.select(np.flatnonzero(wanted[self.identity]))
