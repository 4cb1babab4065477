"""The evaluation protocols of masked face recognition, as selections of a benchmark's pairs and images.

- all: every pair of the benchmark, as published.
- umr_mp: a masked probe against an unmasked reference (the masked benchmarks' headline).
- masked_masked, unmasked_unmasked: both sides masked, both unmasked.
- mr_mp: the umr_mp pairs with the reference masked on the fly by mask_synth in the probe's mask
  type, so a gallery photo is compared in the same masked state as the probe.

The pair protocols need the per-image `masked` label; identification (masked probes against a
gallery of unmasked references) also needs `identity`. Masks are drawn at each reference's own
`meta["landmarks"]` (mfr.align's manifest for a set it aligned, a benchmark's layout template), or
where a landmarker finds the face on the unmasked reference, once per reference.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

import mask_synth
from mask_synth import render_mask
from mfr.data.readers.mask_labels import spec_for_label
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
# Where a masked reference's landmarks came from, besides a landmarker's own source names (mask_synth.landmarks):
SET_LANDMARKS = "set"  # the set's meta["landmarks"], without a meta["landmark_source"] to say more
FOUND = "landmarker"  # a landmarker that returns bare points
NO_LANDMARKS = "no landmarks"  # the reference cannot be masked


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
    settings = (
        {k: v for k, v in sorted(vars(landmarker).items()) if isinstance(v, (str, int, float, bool, tuple))}
        if hasattr(landmarker, "__dict__")
        else {}
    )
    return f"{type(landmarker).__module__}.{type(landmarker).__qualname__}{settings}"


def renderer_version() -> str:
    """Changes when mask_synth's code does, so cached embeddings of masked references follow it."""
    digest = hashlib.sha1()
    for source in sorted(Path(mask_synth.__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()


class MaskedReferences(Sequence):
    """Reference images masked on the fly: item k is images[index[k]] wearing a mask of type labels[k].

    Each reference image has its own landmarks, settled once, before any mask is drawn: the set's
    `landmarks` (with `landmark_sources` saying where they came from: mfr.align's manifest, a
    benchmark's layout), else `landmarker(image)` on the unmasked reference. Its masked copies are
    drawn at them, and `face_landmarks(k)` hands them to an embedder that cuts faces itself (dlib's),
    so nothing ever looks for a face on a mask just drawn. `landmark_counts()` says how every
    reference's landmarks were obtained; a reference the landmarker cannot place is counted as
    NO_LANDMARKS and its items are DataErrors, counted like bad images.
    """

    def __init__(
        self,
        images: Sequence,
        index: np.ndarray,
        labels: Sequence[str],
        default: str,
        landmarks: np.ndarray | None = None,
        landmarker: Landmarker | None = None,
        landmark_sources: Sequence[str] | None = None,
    ):
        if landmarks is None and landmarker is None:
            raise ValueError("masked references need landmarks or a landmarker")
        self.images, self.index, self.labels, self.default = images, np.asarray(index), list(labels), default
        self.specs = [spec_for_label(label, default) for label in self.labels]
        self.points, self.sources, self.failures = {}, {}, {}
        for i in map(int, np.unique(self.index)):
            self.points[i], self.sources[i] = self._landmarks_of(i, landmarks, landmark_sources, landmarker)
        source = images_fingerprint(images)
        placed = np.stack([np.full((68, 2), np.nan, np.float32) if p is None else p for p in self.points.values()])
        self.fingerprint = (
            None
            if source is None
            else hashlib.sha1(
                "|".join(
                    [
                        source,
                        self.index.tobytes().hex(),
                        ",".join(self.labels),
                        default,
                        hashlib.sha1(np.ascontiguousarray(placed, np.float32)).hexdigest(),
                        renderer_version(),
                    ]
                ).encode()
            ).hexdigest()
        )

    def _landmarks_of(self, i: int, landmarks, sources, landmarker) -> tuple[np.ndarray | None, str]:
        """Reference image i's own landmarks and where they came from."""
        if landmarks is not None and not np.isnan(landmarks[i]).any():
            return np.asarray(landmarks[i], np.float32), str(sources[i]) if sources is not None else SET_LANDMARKS
        if landmarker is None:
            self.failures[i] = "the set gives it no landmarks and no landmarker is configured"
            return None, NO_LANDMARKS
        try:
            found = landmarker(self.images[i])
        except Exception as exc:  # noqa: BLE001 - a landmarker's own failure type; reported per image like a bad file
            self.failures[i] = str(exc)
            return None, NO_LANDMARKS
        return np.asarray(getattr(found, "points", found), np.float32), str(getattr(found, "source", FOUND))

    def __len__(self) -> int:
        return len(self.index)

    def face_landmarks(self, k: int) -> np.ndarray:
        """The landmarks item k's mask was drawn at: its reference image's own."""
        i = int(self.index[k])
        if self.points[i] is None:
            raise DataError(f"reference image {i}: no landmarks to draw the mask ({self.failures[i]})")
        return self.points[i]

    def __getitem__(self, k: int) -> np.ndarray:
        i = int(self.index[k])
        points = self.face_landmarks(k)
        seed = zlib.crc32(f"{i}|{self.labels[k]}".encode())
        return render_mask(self.images[i], points, self.specs[k][0], seed=seed).image

    def landmark_counts(self) -> dict[str, int]:
        """How many reference images got their landmarks which way (e.g. {'manifest': 120} or {'detector': 90, 'cnn': 3})."""
        return dict(Counter(self.sources.values()).most_common())

    def inexact_specs(self) -> int:
        """How many references got a stand-in mask (a type mask_synth cannot draw, or an unknown label)."""
        return sum(not exact for _, exact in self.specs)
