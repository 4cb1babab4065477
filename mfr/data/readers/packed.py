"""Packed datasets: decoded, resized uint8 images in memory-mapped shards, so loading costs a memcpy.

A pack is a folder:

    pack.json            what it holds: image size, shards, identity names, the images skipped
    index.npz            per image: identity, mask (1/0/-1), twin (row of its masked twin, -1), position
    keys.txt             per image, its path in the source dataset (for reports and pairs files)
    images-00000.npy     (n, S, S, 3) uint8 RGB, n = shard_size; np.load(mmap_mode="r") maps it

Packing is resumable: each shard and its sidecar `images-00000.json` (rows kept, rows skipped) are
written atomically, a rerun skips the shards it finds, and pack.json, written last, marks a
finished pack. Unreadable images are skipped (their slot stays black and is not indexed), listed
in pack.json and reported.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from mask_synth.dataset import atomic_path, write_atomic
from mfr.data.readers.io import DatasetLayoutError, SkippedImages, read_all, require
from mfr.data.readers.table import FaceTable
from mfr.errors import ConfigError

log = logging.getLogger(__name__)

FORMAT, VERSION = "mfr-pack", 1
PACK_LAYOUT = """  <pack>/pack.json, index.npz, keys.txt, images-*.npy   made by `python -m mfr.pack SOURCE <pack>`"""


def is_pack(root: Path) -> bool:
    return (root / "pack.json").is_file()


def write_shard(table: FaceTable, rows: range, path: Path, size: int, batch: int, threads: int) -> dict:
    """Decode `rows` into one .npy shard (written atomically); returns its sidecar (kept and skipped rows)."""
    kept, skipped = [], SkippedImages(path.name)
    with atomic_path(path) as temporary:
        array = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.uint8, shape=(len(rows), size, size, 3))
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            for offset, image in enumerate(
                read_all(table.select(np.array(chunk)).images, skipped, size=size, threads=threads)
            ):
                if image is not None:
                    array[start + offset] = image
                    kept.append(chunk[offset])
        array.flush()
        del array
    return {"rows": [rows.start, rows.stop], "kept": kept, "skipped": skipped.files}


def write_pack(
    table: FaceTable,
    out_dir: str | Path,
    image_size: int = 112,
    shard_size: int = 16384,
    threads: int = 8,
    source: str = "",
) -> Path:
    """Pack every image of `table` into `out_dir` at image_size x image_size; resumes a stopped run."""
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    options = {"source": source, "image_size": image_size, "shard_size": shard_size, "images": len(table)}
    stored = out / "pack-options.json"
    if stored.exists() and json.loads(stored.read_text()) != options:
        raise ConfigError(
            f"{out} holds part of a pack made with {json.loads(stored.read_text())}; "
            f"this run asks for {options}: use the same options or a new folder"
        )
    write_atomic(stored, json.dumps(options, indent=1) + "\n")
    shards, kept, skipped = [], [], []
    for n, start in enumerate(range(0, len(table), shard_size)):
        rows = range(start, min(start + shard_size, len(table)))
        name = f"images-{n:05d}.npy"
        sidecar = out / f"images-{n:05d}.json"
        if sidecar.exists() and (out / name).exists():
            done = json.loads(sidecar.read_text())
        else:
            done = write_shard(table, rows, out / name, image_size, batch=1024, threads=threads)
            write_atomic(sidecar, json.dumps(done, indent=1) + "\n")
        log.info("%s: %d of %d images packed", out, rows.stop, len(table))
        shards.append({"file": name, "count": len(rows)})
        kept += done["kept"]
        skipped += [tuple(s) for s in done["skipped"]]
    kept = np.array(kept, np.int64)
    packed = table.select(kept)
    with atomic_path(out / "index.npz") as index, open(index, "wb") as f:  # a file object: np.savez would add .npz
        np.savez(f, identity=packed.identity, mask=packed.mask, twin=packed.twin, position=kept)
    write_atomic(out / "keys.txt", "\n".join(packed.keys) + "\n")
    pack = {
        "format": FORMAT,
        "version": VERSION,
        "image_size": image_size,
        "count": len(kept),
        "shards": shards,
        "names": list(table.names),
        "source": source,
        "skipped": skipped,
    }
    write_atomic(out / "pack.json", json.dumps(pack, indent=1) + "\n")
    report = SkippedImages(f"mfr.pack {out}", list(skipped))
    report.report(len(table))
    return out


class PackedImages:
    """The images of a pack by row: uint8 HxWx3 views straight from the memory-mapped shards."""

    def __init__(self, files: list[Path], counts: list[int], positions: np.ndarray):
        self.files, self.positions = files, np.asarray(positions, np.int64)
        self.starts = np.concatenate([[0], np.cumsum(counts)])
        self._shards = None

    def __getstate__(self):  # each DataLoader worker maps the shards itself
        return {**self.__dict__, "_shards": None}

    def __len__(self) -> int:
        return len(self.positions)

    def shards(self) -> list[np.ndarray]:
        if self._shards is None:
            self._shards = [np.load(f, mmap_mode="r") for f in self.files]
        return self._shards

    def __getitem__(self, i: int) -> np.ndarray:
        position = int(self.positions[i])
        shard = int(np.searchsorted(self.starts, position, side="right")) - 1
        return np.asarray(self.shards()[shard][position - self.starts[shard]])


def read_pack(root: str | Path) -> FaceTable:
    """The FaceTable of a pack (images memory-mapped, nothing decoded)."""
    root = require(root, PACK_LAYOUT)
    meta = json.loads((root / "pack.json").read_text())
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise DatasetLayoutError(root / "pack.json", f"is not an {FORMAT} version {VERSION} pack", PACK_LAYOUT)
    index = np.load(require(root / "index.npz", PACK_LAYOUT, folder=False))
    keys = require(root / "keys.txt", PACK_LAYOUT, folder=False).read_text().splitlines()
    files = [require(root / s["file"], PACK_LAYOUT, folder=False) for s in meta["shards"]]
    images = PackedImages(files, [s["count"] for s in meta["shards"]], index["position"])
    if meta["skipped"]:
        log.info(
            "%s: %d images of the source were unreadable when packed (listed in pack.json)", root, len(meta["skipped"])
        )
    return FaceTable(images, keys, index["identity"], meta["names"], index["mask"], index["twin"])
