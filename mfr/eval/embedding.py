"""Images -> L2-normalised embeddings for any embedder, batched, and cached per image set and model.

An embedder is two steps: `prepare` (one image, in DataLoader workers: decoding, detection,
anything per image; a CPU-bound model such as dlib's does all its work here) and `embed` (a batch,
in the main process: the GPU model). Images that cannot be read become NaN rows, listed with the
reason, so the metrics can skip and count the pairs they touch instead of failing or losing them.

A model may embed a masked face differently from an unmasked one (SRT passes masked probes through
its unmasking model): such an embedder sets `masked_aware = True` and takes `embed(batch, masked)`,
and the sets' per-image `masked` flags are handed to it (and key its cache entries).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from mask_synth.dataset import atomic_path
from mfr.data.sets import IndexedImages
from mfr.errors import DataError

log = logging.getLogger(__name__)


class Embedder(Protocol):
    image_size: int | None  # images are resized to this square size before `prepare` (None: as stored)
    cpu_bound: bool  # True when `prepare` does the model's work, so every core should run a worker
    fingerprint: str  # changes whenever the embeddings would: weights, preprocessing, flip, precision

    def prepare(self, image: torch.Tensor) -> tuple[torch.Tensor, str]:
        """uint8 (3,H,W) -> (what `embed` batches, a note such as 'whole-image box', or '')."""

    # Optional, for embedders that find faces themselves (image_size None): prepare_at(image, landmarks (68, 2))
    # cuts the face at known landmarks instead, as for MR-MP's masked references (see _Inputs).

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        """Prepared batch -> (B, D) float32 L2-normalised embeddings on the CPU. A masked-aware embedder
        (optional attribute `masked_aware = True`) takes `embed(batch, masked)`, masked a (B,) bool tensor."""


def is_masked_aware(embedder: Embedder) -> bool:
    """Whether the embedder embeds masked faces its own way, so it needs each image's `masked` flag."""
    return bool(getattr(embedder, "masked_aware", False))


@dataclass
class Embeddings:
    values: np.ndarray  # (N, D) float32, L2-normalised; NaN rows for images that could not be read
    failures: dict[int, str] = field(default_factory=dict)  # image index -> why it could not be read
    notes: dict[str, int] = field(default_factory=dict)  # how often `prepare` noted each thing
    seconds: float = 0.0
    cached: bool = False

    def summary(self) -> dict:
        shown = dict(list(self.failures.items())[:20])
        return {
            "images": len(self.values),
            "unreadable": len(self.failures),
            "unreadable_examples": {str(i): why for i, why in shown.items()},
            "notes": self.notes,
            "seconds": round(self.seconds, 2),
            "cached": self.cached,
        }


class _Inputs(Dataset):
    """Resized, prepared images with their index; a read failure becomes a record, not an exception.

    Images whose landmarks are known (a sequence with `face_landmarks(i)`, such as MR-MP's masked
    references) go to an embedder's `prepare_at` when it has one and takes images as stored: it cuts
    the face there instead of looking for it.
    """

    def __init__(self, images: Sequence, embedder: Embedder, masked: np.ndarray | None = None):
        self.base, self.prepare = IndexedImages(images, embedder.image_size, masked), embedder.prepare
        known = getattr(images, "face_landmarks", None)
        self.prepare_at = (
            getattr(embedder, "prepare_at", None) if known is not None and embedder.image_size is None else None
        )
        self.landmarks = known

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        try:
            item = self.base[i]  # index, image and, when given, the masked flag
            image = item["image"]
            image, note = self.prepare_at(image, self.landmarks(i)) if self.prepare_at else self.prepare(image)
        except DataError as exc:
            return {"index": i, "error": str(exc)}
        return {**item, "image": image, "note": note}


def _collate(items: list[dict]) -> dict:
    ok = [it for it in items if "error" not in it]
    return {
        "index": torch.tensor([it["index"] for it in ok], dtype=torch.long),
        "image": torch.stack([it["image"] for it in ok]) if ok else None,
        "masked": torch.tensor([it["masked"] for it in ok], dtype=torch.bool) if ok and "masked" in ok[0] else None,
        "notes": [it["note"] for it in ok if it["note"]],
        "errors": [(it["index"], it["error"]) for it in items if "error" in it],
    }


def auto_workers(embedder: Embedder) -> int:
    """One loader worker per core, less the main process's core when it drives a GPU model."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores if embedder.cpu_bound else max(0, min(12, cores - 1))


def compute_embeddings(
    images: Sequence,
    embedder: Embedder,
    batch_size: int = 256,
    num_workers: int | str = "auto",
    desc: str = "embedding",
    masked: np.ndarray | None = None,
) -> Embeddings:
    """`masked`: each image's 0/1 mask flag, for a masked-aware embedder (others embed every face alike)."""
    started = time.time()
    aware = is_masked_aware(embedder)
    workers = auto_workers(embedder) if num_workers == "auto" else int(num_workers)
    if embedder.cpu_bound:  # the work is per image in the workers: small batches keep every worker busy to the end
        batch_size = min(batch_size, 16)
    loader = DataLoader(
        _Inputs(images, embedder, masked if aware else None),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=torch.cuda.is_available() and not embedder.cpu_bound,
    )
    values: np.ndarray | None = None
    failures, notes = {}, Counter()
    for batch in tqdm(loader, desc=desc, leave=False, disable=len(loader) < 4):
        failures.update(batch["errors"])
        notes.update(batch["notes"])
        if batch["image"] is None:
            continue
        out = (embedder.embed(batch["image"], batch["masked"]) if aware else embedder.embed(batch["image"])).numpy()
        if values is None:
            values = np.full((len(images), out.shape[1]), np.nan, np.float32)
        values[batch["index"].numpy()] = out
    if values is None:
        raise DataError(
            f"{desc}: none of the {len(images)} images could be read, e.g. {next(iter(failures.values()), '')}"
        )
    return Embeddings(values, dict(sorted(failures.items())), dict(notes), time.time() - started)


def images_fingerprint(images: Sequence) -> str | None:
    """What identifies an image sequence's content: its own fingerprint, or a hash of in-memory pixels."""
    if hasattr(images, "fingerprint"):
        return images.fingerprint
    if isinstance(images, np.ndarray):
        return hashlib.sha1(repr((images.shape, images.dtype.str)).encode() + images.tobytes()).hexdigest()
    return None


class EmbeddingCache:
    """One .npz per (image set, embedder) under `directory`; written atomically, read back exactly."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def path(self, name: str, images: Sequence, embedder: Embedder, masked: np.ndarray | None = None) -> Path | None:
        fingerprint = images_fingerprint(images)
        if fingerprint is None:
            return None
        if is_masked_aware(embedder) and masked is not None:  # the flags change what such a model computes
            fingerprint += "|masked=" + hashlib.sha1(np.asarray(masked).astype(bool).tobytes()).hexdigest()
        key = hashlib.sha1(f"{fingerprint}|{embedder.fingerprint}".encode()).hexdigest()[:20]
        return self.directory / f"{name}-{key}.npz"

    def load(self, path: Path) -> Embeddings | None:
        if not path.is_file():
            return None
        with np.load(path) as z:
            failures = dict(zip(z["failure_index"].tolist(), z["failure_reason"].tolist()))
            notes = json.loads(str(z["notes"]))
            return Embeddings(z["values"], failures, notes, float(z["seconds"]), cached=True)

    def save(self, path: Path, emb: Embeddings) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.savez would add .npz to the name
            np.savez(
                f,
                values=emb.values,
                failure_index=np.array(list(emb.failures), np.int64),
                failure_reason=np.array(list(emb.failures.values()), str),
                notes=json.dumps(emb.notes),
                seconds=emb.seconds,
            )


def embed_images(
    images: Sequence,
    embedder: Embedder,
    name: str,
    cache: EmbeddingCache | None = None,
    batch_size: int = 256,
    num_workers: int | str = "auto",
    masked: np.ndarray | None = None,
) -> Embeddings:
    """Embeddings of `images`, from the cache when this image set was embedded by this model before.
    `masked`: each image's 0/1 mask flag (see `compute_embeddings`)."""
    path = cache.path(name, images, embedder, masked) if cache is not None else None
    if path is not None and (hit := cache.load(path)) is not None:
        log.info("%s: %d embeddings from the cache (%s)", name, len(hit.values), path)
        return hit
    emb = compute_embeddings(images, embedder, batch_size, num_workers, desc=f"embedding {name}", masked=masked)
    log.info("%s: embedded %d images in %.1fs", name, len(emb.values), emb.seconds)
    if path is not None:
        cache.save(path, emb)
    return emb
