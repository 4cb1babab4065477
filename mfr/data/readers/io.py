"""Reading image files, with one policy for the files that cannot be read.

Every mfr reader decodes through `read_image` / `decode_image`: a file that is missing, empty or not
a decodable image raises `CorruptImageError`, naming the file and the cause. What happens next is
decided here too, so that no reader drops an image silently:

- readers that decode ahead of use (`mfr.pack`, verification sets, `mfr.audit`) call `read_all` or
  `map_images`, which skip the file, record it in a `SkippedImages`, and the caller reports the count
  and the files;
- training datasets that decode lazily are wrapped in `SkipCorrupt`, which serves the next sample
  instead, logs the file, and counts it in memory shared by all DataLoader workers.

Missing dataset folders and files raise `DatasetLayoutError` with the path and the expected layout.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from mask_synth.dataset import UnreadableImageError, decode_rgb, read_rgb
from mfr.errors import DataError

log = logging.getLogger(__name__)


class CorruptImageError(DataError):
    """An image that cannot be used; `path` and `reason` say which and why."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


class DatasetLayoutError(DataError):
    """A dataset folder or file is missing or empty; the message shows the layout mfr expected."""

    def __init__(self, path: str | Path, problem: str, layout: str):
        super().__init__(f"{path}: {problem}. Expected layout:\n{layout}")
        self.path, self.problem = str(path), problem  # for a one-line report


def require(path: str | Path, layout: str, folder: bool = True) -> Path:
    """`path` as a Path, or a DatasetLayoutError when the folder (or file) is not there."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetLayoutError(path, "does not exist", layout)
    if folder != path.is_dir():
        raise DatasetLayoutError(path, f"is not a {'folder' if folder else 'file'}", layout)
    return path


def decode_image(data: bytes | np.ndarray, name: str | Path) -> np.ndarray:
    """Encoded image bytes as HxWx3 uint8 RGB, or CorruptImageError naming the image."""
    try:
        return decode_rgb(data, name)
    except UnreadableImageError as error:
        raise CorruptImageError(name, error.cause) from None


def read_image(path: str | Path) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB, or CorruptImageError naming the file."""
    try:
        return read_rgb(path)
    except UnreadableImageError as error:
        raise CorruptImageError(path, error.cause) from None


@dataclass
class SkippedImages:
    """The images a reader left out and why; `report` logs them so none goes missing unnoticed."""

    what: str
    files: list[tuple[str, str]] = field(default_factory=list)

    def add(self, error: CorruptImageError) -> None:
        self.files.append((error.path, error.reason))

    def __len__(self) -> int:
        return len(self.files)

    def report(self, total: int, shown: int = 5) -> str:
        """Log (as a warning) and return one line: how many of `total` were skipped, and the first few."""
        if not self.files:
            return f"{self.what}: all {total} images read"
        listed = "; ".join(f"{path} ({reason})" for path, reason in self.files[:shown])
        more = f"; and {len(self.files) - shown} more" if len(self.files) > shown else ""
        message = f"{self.what}: skipped {len(self.files)} of {total} images that could not be read: {listed}{more}"
        log.warning(message)
        return message


def map_images(
    images: Sequence, each: Callable[[int, np.ndarray], object], skipped: SkippedImages, threads: int = 8
) -> list:
    """`each(i, image)` for every image of a lazy indexable (e.g. `ImageFiles`), in threads; None where unreadable.

    OpenCV releases the GIL, so threads scale; only what `each` returns is kept, so a pass over a whole
    dataset holds one image per thread. Unreadable images are added to `skipped`, in index order.
    """

    def one(i):
        try:
            return each(i, images[i])
        except CorruptImageError as error:
            return error

    with ThreadPoolExecutor(max(1, threads)) as pool:
        results = list(pool.map(one, range(len(images)), chunksize=64))
    for i, result in enumerate(results):
        if isinstance(result, CorruptImageError):
            skipped.add(result)
            results[i] = None
    return results


def read_all(
    images: Sequence, skipped: SkippedImages, size: int | None = None, threads: int = 8
) -> list[np.ndarray | None]:
    """Decode every image of a lazy indexable at once; None where unreadable (added to `skipped`).

    `size` resizes every image to size x size (area interpolation).
    """

    def resized(i, image):
        if size and image.shape[:2] != (size, size):
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        return image

    return map_images(images, resized, skipped, threads)


def file_stamp(path: str | Path) -> str:
    """Path, size and modification time: enough to notice a changed file without reading it."""
    st = os.stat(path)
    return f"{os.path.abspath(path)}:{st.st_size}:{st.st_mtime_ns}"


class ImageFiles:
    """A list of image files that reads like a list of HxWx3 uint8 RGB arrays, decoding on access.

    `fingerprint` changes when the files do: the key under which their embeddings are cached.
    """

    def __init__(self, paths: Sequence[str | Path]):
        self.paths = [str(p) for p in paths]
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        return read_image(self.paths[i])

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            digest = hashlib.sha1()
            for path in self.paths:
                digest.update(file_stamp(path).encode())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint


class EncodedImages:
    """Encoded images held in memory (e.g. an insightface .bin file), decoded one at a time."""

    def __init__(self, blobs: Sequence[bytes], source: str | Path):
        self.blobs, self.source = blobs, str(source)
        self.fingerprint = hashlib.sha1(file_stamp(source).encode()).hexdigest()

    def __len__(self) -> int:
        return len(self.blobs)

    def __getitem__(self, i: int) -> np.ndarray:
        return decode_image(self.blobs[i], f"{self.source} image {i}")


WORKER_SLOTS = 256  # one counter per DataLoader worker, so counts never race


class SkipCorrupt(Dataset):
    """A lazily decoding dataset that serves the next sample in place of one it cannot read.

    Each skip is logged with the file and counted in a shared-memory tensor (one slot per worker
    process), so the main process can report the total (`skipped`) however many workers there are.
    Gives up with the last error after `max_tries` unreadable samples in a row.
    """

    def __init__(self, dataset: Dataset, what: str, max_tries: int = 100):
        self.dataset, self.what, self.max_tries = dataset, what, max_tries
        self.counts = torch.zeros(WORKER_SLOTS, dtype=torch.int64).share_memory_()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name):  # identities, augment, ... of the wrapped dataset
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    @property
    def skipped(self) -> int:
        return int(self.counts.sum())

    def __getitem__(self, i: int):
        last = None
        for attempt in range(self.max_tries):
            try:
                return self.dataset[(i + attempt) % len(self.dataset)]
            except CorruptImageError as error:
                last = error
                info = get_worker_info()
                self.counts[0 if info is None else 1 + info.id % (WORKER_SLOTS - 1)] += 1
                log.warning("%s: skipped an unreadable image, serving the next sample instead: %s", self.what, error)
        raise CorruptImageError(
            last.path, f"{self.max_tries} unreadable samples in a row from {self.what}; last: {last.reason}"
        )
