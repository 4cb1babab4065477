"""The evaluation protocols of masked face recognition, as selections of a benchmark's pairs and images.

- all: every pair of the benchmark, as published.
- umr_mp: a masked probe against an unmasked reference (the masked benchmarks' headline).
- masked_masked, unmasked_unmasked: both sides masked, both unmasked.
- mr_mp: the umr_mp pairs with the reference masked on the fly by mask_synth in the probe's mask
  type, so a gallery photo is compared in the same masked state as the probe.

The pair protocols need the per-image `masked` label; identification (masked probes against a
gallery of unmasked references) also needs `identity`. Masks are drawn at `meta["landmarks"]`
(aligned benchmarks carry their layout's template) or where a landmarker finds the face.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

import numpy as np

import mask_synth
from mask_synth import render_mask
from mfr.data.mask_labels import spec_for_label
from mfr.data.sets import VerificationSet
from mfr.errors import DataError
from mfr.eval.embedding import images_fingerprint

PROTOCOLS = ("all", "umr_mp", "masked_masked", "unmasked_unmasked", "mr_mp")
TITLES = {
    "all": "all pairs",
    "umr_mp": "UMR-MP: masked vs unmasked",
    "masked_masked": "masked vs masked",
    "unmasked_unmasked": "unmasked vs unmasked",
    "mr_mp": "MR-MP: masked vs masked-on-the-fly",
}
Landmarker = Callable[[np.ndarray], np.ndarray]


def pair_protocols(vset: VerificationSet) -> dict[str, np.ndarray]:
    """Boolean selection of the pairs in each pair protocol this set's labels allow (mr_mp = umr_mp's)."""
    selections = {"all": np.ones(len(vset.pairs), bool)}
    if "masked" in vset.meta:
        masked = np.asarray(vset.meta["masked"]).astype(bool)[vset.pairs]
        selections["umr_mp"] = masked[:, 0] != masked[:, 1]
        selections["masked_masked"] = masked.all(1)
        selections["unmasked_unmasked"] = ~masked.any(1)
    return selections


def probe_first(vset: VerificationSet, pairs: np.ndarray) -> np.ndarray:
    """Masked-vs-unmasked pairs turned so that column 0 is the masked probe, column 1 the reference."""
    masked = np.asarray(vset.meta["masked"]).astype(bool)
    return np.where(masked[pairs[:, :1]], pairs, pairs[:, ::-1])


def mask_labels(vset: VerificationSet) -> np.ndarray | None:
    """Each image's mask-type label, when the benchmark publishes them."""
    return np.asarray(vset.meta["mask_type"]) if "mask_type" in vset.meta else None


def describe(landmarker: Landmarker | None) -> str:
    """A landmarker's class and plain settings: stable across runs, unlike its repr's memory address."""
    if landmarker is None:
        return ""
    settings = {k: v for k, v in sorted(vars(landmarker).items()) if isinstance(v, (str, int, float, bool, tuple))} \
        if hasattr(landmarker, "__dict__") else {}
    return f"{type(landmarker).__module__}.{type(landmarker).__qualname__}{settings}"


def renderer_version() -> str:
    """Changes when mask_synth's code does, so cached embeddings of masked references follow it."""
    digest = hashlib.sha1()
    for source in sorted(Path(mask_synth.__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()


class MaskedReferences(Sequence):
    """Reference images masked on the fly: item k is images[index[k]] wearing a mask of type labels[k].

    Landmarks come from `landmarks` (per source image) or, without them, from `landmarker(image)`.
    A face the landmarker cannot place is a DataError for that item, counted like a bad image.
    """

    def __init__(self, images: Sequence, index: np.ndarray, labels: Sequence[str], default: str,
                 landmarks: np.ndarray | None = None, landmarker: Landmarker | None = None):
        if landmarks is None and landmarker is None:
            raise ValueError("masked references need landmarks or a landmarker")
        self.images, self.index, self.labels, self.default = images, np.asarray(index), list(labels), default
        self.landmarks, self.landmarker = landmarks, landmarker
        self.specs = [spec_for_label(label, default) for label in self.labels]
        source = images_fingerprint(images)
        self.fingerprint = None if source is None else hashlib.sha1(
            "|".join([source, self.index.tobytes().hex(), ",".join(self.labels), default, describe(landmarker),
                      "" if landmarks is None else hashlib.sha1(np.ascontiguousarray(landmarks[self.index])).hexdigest(),
                      renderer_version()]).encode()
        ).hexdigest()

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> np.ndarray:
        i = int(self.index[k])
        image = self.images[i]
        if self.landmarks is not None:
            points = self.landmarks[i]
        else:
            try:
                found = self.landmarker(image)
            except Exception as exc:  # a landmarker's own failure type; reported per image like a bad file
                raise DataError(f"reference image {i}: no landmarks to draw the mask ({exc})") from exc
            points = getattr(found, "points", found)
        seed = zlib.crc32(f"{i}|{self.labels[k]}".encode())
        return render_mask(image, np.asarray(points, np.float32), self.specs[k][0], seed=seed).image

    def inexact_specs(self) -> int:
        """How many references got a stand-in mask (a type mask_synth cannot draw, or an unknown label)."""
        return sum(not exact for _, exact in self.specs)
