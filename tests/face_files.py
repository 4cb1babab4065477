"""Tiny on-disk datasets for the data tests, written by the tests themselves (nothing committed).

Every image is a flat colour that encodes (identity, image, masked), so a test can tell from the
pixels which file a loader returned.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from mfr.data.readers.recordio import RecordWriter, pack_header

SIZE = 32


def colour(identity: int, image: int, masked: int = 0) -> tuple[int, int, int]:
    return (20 + 20 * identity, 20 + 30 * image, 60 + 150 * masked)


def face(identity: int, image: int, masked: int = 0, size: int = SIZE) -> np.ndarray:
    return np.full((size, size, 3), colour(identity, image, masked), np.uint8)


def write_image(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def decoded_colour(image: np.ndarray) -> tuple[int, ...]:
    """The mean colour of a decoded image, rounded to the nearest 10 (JPEG moves flat colours a little)."""
    return tuple(int(round(c / 10.0)) * 10 for c in image.reshape(-1, 3).mean(0))


def write_identity_folders(
    root: Path, identities: int = 3, per_identity: int = 2, masked: int = 0, ext: str = ".png"
) -> Path:
    for i in range(identities):
        for j in range(per_identity):
            write_image(root / f"id{i:02d}" / f"{j:03d}{ext}", face(i, j, masked))
    return root


def write_rmfd(root: Path, identities: int = 4, unmasked: int = 3, masked: int = 2) -> Path:
    for i in range(identities):
        for j in range(unmasked):
            write_image(root / "AFDB_face_dataset" / f"id{i:02d}" / f"{j}.jpg", face(i, j, 0))
        for j in range(masked):
            write_image(root / "AFDB_masked_face_dataset" / f"id{i:02d}" / f"m{j}.jpg", face(i, j, 1))
    return root


def write_twins(source_root: Path, twins_dir: Path, failed: tuple[str, ...] = ()) -> Path:
    """A mask_synth-style output for every image of an identity-folder dataset; `failed` sources get no twin."""
    lines = []
    for path in sorted(source_root.rglob("*.png")):
        source = path.relative_to(source_root).as_posix()
        record = {
            "source": source,
            "identity": source.split("/")[0],
            "status": "failed",
            "reason": "no face found",
            "masked": None,
            "mask_map": None,
        }
        if source not in failed:
            i, j = int(path.parent.name[2:]), int(path.stem)
            write_image(twins_dir / "masked" / source, face(i, j, 1))
            write_image(twins_dir / "mask_map" / source, np.ones((SIZE, SIZE, 3), np.uint8))
            record.update(status="masked", reason=None, masked=f"masked/{source}", mask_map=f"mask_map/{source}")
        lines.append(json.dumps(record))
    twins_dir.mkdir(parents=True, exist_ok=True)
    (twins_dir / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return twins_dir


def encoded(identity, image):
    ok, data = cv2.imencode(".png", cv2.cvtColor(face(identity, image), cv2.COLOR_RGB2BGR))
    return data.tobytes()


def write_insightface_rec(folder, per_identity=(2, 3)):
    """The layout insightface ships: header record 0, image records, then one record per identity."""
    folder.mkdir(parents=True, exist_ok=True)
    images = [(i, j) for i, n in enumerate(per_identity) for j in range(n)]
    first_identity = len(images) + 1
    with RecordWriter(folder / "train.rec", folder / "train.idx") as writer:
        writer.write(0, pack_header([first_identity, first_identity + len(per_identity)]))
        for key, (i, j) in enumerate(images, 1):
            writer.write(key, pack_header(float(i), id=key) + encoded(i, j))
        start = 1
        for i, n in enumerate(per_identity):
            writer.write(first_identity + i, pack_header([start, start + n]))
            start += n
    return folder
