"""Image-folder datasets: identity folders (`<root>/<identity>/<image>`, as CASIA-WebFace comes) and
RMFD (`AFDB_face_dataset/` and `AFDB_masked_face_dataset/`, each of identity folders).

Listing only reads directory entries, so it takes seconds even for CASIA's half a million files;
images are decoded when used (see `mfr.data.readers.io` for what happens to the unreadable ones).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from mask_synth.dataset import IMAGE_EXTENSIONS
from mfr.data.readers.io import DatasetLayoutError, ImageFiles, require
from mfr.data.readers.table import UNKNOWN, FaceTable

log = logging.getLogger(__name__)

IDENTITY_FOLDERS = """  <root>/<identity>/<image>.jpg    one folder per person, any image format OpenCV reads
  e.g. CASIA-WebFace/0000045/001.jpg"""


def list_identity_images(root: Path) -> tuple[list[str], list[str]]:
    """(image paths relative to root, their identity folder names), sorted; hidden entries ignored.

    Images in deeper subfolders belong to their top folder's identity; files that are not images
    are counted and logged, and images lying directly in root (no identity) are an error.
    """
    keys, identities, others = [], [], 0
    loose = [e.name for e in os.scandir(root) if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS)]
    if loose:
        raise DatasetLayoutError(root, f"holds images outside identity folders (e.g. {loose[0]})", IDENTITY_FOLDERS)
    for identity in sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")):
        for folder, dirs, files in os.walk(root / identity):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            relative = Path(folder).relative_to(root).as_posix()
            for name in sorted(files):
                if name.startswith("."):
                    continue
                if name.lower().endswith(IMAGE_EXTENSIONS):
                    keys.append(f"{relative}/{name}")
                    identities.append(identity)
                else:
                    others += 1
    if others:
        log.info("%s: ignored %d files that are not images", root, others)
    return keys, identities


def identity_folders(root: str | Path, mask: int = UNKNOWN) -> FaceTable:
    """A FaceTable of `<root>/<identity>/<image>`; `mask` is every image's mask label if known."""
    root = require(root, IDENTITY_FOLDERS)
    keys, identities = list_identity_images(root)
    return files_table(root, keys, identities, [mask] * len(keys), IDENTITY_FOLDERS)


UNMASKED_DIR, MASKED_DIR = "AFDB_face_dataset", "AFDB_masked_face_dataset"
RMFD_LAYOUT = f"""  <root>/{UNMASKED_DIR}/<identity>/<image>.jpg          unmasked faces
  <root>/{MASKED_DIR}/<identity>/<image>.jpg   masked faces of the same people
  (or a pack of it made by `python -m mfr.pack`)"""


def is_rmfd(root: Path) -> bool:
    return (root / UNMASKED_DIR).is_dir() or (root / MASKED_DIR).is_dir()


def read_rmfd(root: str | Path) -> FaceTable:
    """A FaceTable of an RMFD-layout folder: mask label from the top folder, identity from the subfolder."""
    root = require(root, RMFD_LAYOUT)
    keys, identities, masks = [], [], []
    for top, label in ((UNMASKED_DIR, 0), (MASKED_DIR, 1)):
        found, names = list_identity_images(require(root / top, RMFD_LAYOUT))
        keys += [f"{top}/{k}" for k in found]
        identities += names
        masks += [label] * len(found)
    return files_table(root, keys, identities, masks, RMFD_LAYOUT)


def files_table(root: Path, keys: list[str], identities: list[str], masks: list[int], layout: str) -> FaceTable:
    """The FaceTable of image files `root/key`, each with its identity name and mask label."""
    if not keys:
        raise DatasetLayoutError(root, "holds no images", layout)
    names, identity = np.unique(identities, return_inverse=True)
    return FaceTable(
        ImageFiles([os.path.join(root, k) for k in keys]),
        keys,
        identity,
        [str(n) for n in names],
        np.array(masks),
        np.full(len(keys), -1),
    )
