"""insightface RecordIO (`train.rec` + `train.idx`, as faces_webface_112x112 ships), read without mxnet.

The format (dmlc RecordIO, little-endian), as this module reads and writes it:
- a record is uint32 magic 0xced7230a, uint32 lrecord (cflag = lrecord >> 29, length = its low 29
  bits), `length` bytes, then zeros up to a multiple of 4. A payload holding the magic at a 4-aligned
  offset is stored in parts split there (cflag 1 first, 2 middle, 3 last; 0 a whole record), and the
  reader puts the magic back between parts.
- a payload is an IRHeader, struct "<IfQQ" (flag, label, id, id2); when flag > 0, `flag` float32
  labels follow it instead of `label`; then the encoded image.
- the .idx file has one line per record: "<record index>\\t<byte offset>".
- insightface writes a header record 0 with flag > 0 and labels (a, b): image records are 1 .. a-1,
  and records a .. b-1 hold each identity's image range (labels (first, end)).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from mask_synth.dataset import write_atomic
from mfr.data.readers.io import CorruptImageError, DatasetLayoutError, decode_image, require
from mfr.data.readers.table import UNKNOWN, FaceTable

MAGIC = 0xCED7230A
LENGTH_BITS = 29
IR_HEADER = struct.Struct("<IfQQ")
PNG_SIGNATURE = b"\x89PNG"
RECORDIO_LAYOUT = """  <root>/train.rec   insightface RecordIO images (e.g. faces_webface_112x112/train.rec)
  <root>/train.idx   its index: one "<record>\\t<byte offset>" line per record"""


def pack_header(label: float | list[float], id: int = 0, id2: int = 0) -> bytes:
    """An IRHeader: one label in the struct, or several (flag = their count) after it."""
    if np.ndim(label) == 0:
        return IR_HEADER.pack(0, float(label), id, id2)
    labels = np.asarray(label, np.float32)
    return IR_HEADER.pack(len(labels), 0.0, id, id2) + labels.tobytes()


def unpack_header(payload: bytes) -> tuple[np.ndarray, int, bytes]:
    """(labels, id, the bytes after the header) of a record's payload."""
    flag, label, id, _ = IR_HEADER.unpack_from(payload)
    start = IR_HEADER.size
    if flag == 0:
        return np.array([label], np.float32), id, payload[start:]
    end = start + 4 * flag
    return np.frombuffer(payload[start:end], np.float32), id, payload[end:]


class RecordWriter:
    """Writes a .rec and its .idx (records in the order written); for tests and conversions."""

    def __init__(self, rec_path: str | Path, idx_path: str | Path | None = None):
        self.rec_path = Path(rec_path)
        self.idx_path = Path(idx_path) if idx_path else self.rec_path.with_suffix(".idx")
        self.rec, self.idx = open(self.rec_path, "wb"), open(self.idx_path, "w")

    def write(self, key: int, payload: bytes) -> None:
        self.idx.write(f"{key}\t{self.rec.tell()}\n")
        magic = struct.pack("<I", MAGIC)
        parts, start = [], 0
        for at in range(0, len(payload) - 3, 4):  # split at every aligned copy of the magic
            if payload[at : at + 4] == magic:
                parts.append(payload[start:at])
                start = at + 4
        parts.append(payload[start:])
        for n, part in enumerate(parts):
            cflag = 0 if len(parts) == 1 else 1 if n == 0 else 3 if n == len(parts) - 1 else 2
            self.rec.write(
                magic + struct.pack("<I", cflag << LENGTH_BITS | len(part)) + part + b"\0" * (-len(part) % 4)
            )

    def close(self) -> None:
        self.rec.close()
        self.idx.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RecordFile:
    """Random access to the records of a .rec through its .idx; the file is memory-mapped per process."""

    def __init__(self, rec_path: str | Path, idx_path: str | Path | None = None):
        self.rec_path = require(rec_path, RECORDIO_LAYOUT, folder=False)
        self.idx_path = require(idx_path or self.rec_path.with_suffix(".idx"), RECORDIO_LAYOUT, folder=False)
        index = np.loadtxt(self.idx_path, dtype=np.int64, ndmin=2)
        if index.size == 0:
            raise DatasetLayoutError(self.idx_path, "lists no records", RECORDIO_LAYOUT)
        self.offset = dict(zip(index[:, 0].tolist(), index[:, 1].tolist()))
        self.keys = index[:, 0]
        self._data = None

    def __getstate__(self):  # DataLoader workers map the file themselves instead of copying it
        return {**self.__dict__, "_data": None}

    def read(self, key: int) -> bytes:
        """The payload of record `key`, parts joined."""
        if self._data is None:
            self._data = np.memmap(self.rec_path, np.uint8, mode="r")
        data, at, parts = self._data, self.offset[key], []
        while True:
            magic, lrecord = struct.unpack("<II", data[at : at + 8].tobytes()) if at + 8 <= len(data) else (None, 0)
            if magic != MAGIC:
                raise CorruptImageError(
                    f"{self.rec_path}#{key}", f"no RecordIO record at byte {at} (a wrong .idx or a damaged .rec)"
                )
            cflag, length = lrecord >> LENGTH_BITS, lrecord & ((1 << LENGTH_BITS) - 1)
            parts.append(data[at + 8 : at + 8 + length].tobytes())
            at += 8 + length + (-length % 4)
            if cflag in (0, 3):
                return struct.pack("<I", MAGIC).join(parts)


class RecordImages:
    """Images of some records of a RecordFile, decoded on access."""

    def __init__(self, file: RecordFile, keys: np.ndarray):
        self.file, self.keys = file, np.asarray(keys, np.int64)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> np.ndarray:
        key = int(self.keys[i])
        return decode_image(unpack_header(self.file.read(key))[2], f"{self.file.rec_path}#{key}")


def find_recordio(root: Path) -> Path | None:
    """The .rec file a path names: itself, or train.rec inside it."""
    if root.suffix == ".rec":
        return root
    return root / "train.rec" if (root / "train.rec").exists() else None


def recordio_faces(path: str | Path) -> FaceTable:
    """A FaceTable of an insightface .rec (or a folder holding train.rec and train.idx)."""
    path = Path(path).expanduser()
    file = RecordFile(find_recordio(path) or path / "train.rec")
    labels, _, _ = unpack_header(file.read(int(file.keys[0])))
    if file.keys[0] == 0 and len(labels) >= 2:  # insightface header: identity records give each image's label
        first_identity, end = int(labels[0]), int(labels[1])
        keys = np.arange(1, first_identity)
        identity = np.full(len(keys), -1, np.int64)
        for label, record in enumerate(range(first_identity, end)):
            start, stop = unpack_header(file.read(record))[0][:2].astype(np.int64)
            identity[start - 1 : stop - 1] = label
    else:  # a plain indexed .rec: every record is an image carrying its label
        keys = file.keys
        identity = np.array([int(unpack_header(file.read(int(k)))[0][0]) for k in keys], np.int64)
    if (identity < 0).any():
        raise DatasetLayoutError(
            file.rec_path, f"{int((identity < 0).sum())} image records belong to no identity record", RECORDIO_LAYOUT
        )
    names, identity = np.unique(identity, return_inverse=True)
    return FaceTable(
        RecordImages(file, keys),
        [f"{file.rec_path.name}#{k}" for k in keys],
        identity,
        [str(n) for n in names],
        np.full(len(keys), UNKNOWN, np.int8),
        np.full(len(keys), -1, np.int64),
    )


def extract(path: str | Path, out_dir: str | Path) -> int:
    """Write every image of a .rec as `<out_dir>/<identity>/<record>.<jpg|png>`, bytes unchanged.

    This turns RecordIO into identity folders, the input `python -m mask_synth` takes to make twins.
    Returns the number of images written; existing files are kept, so a stopped run resumes.
    """
    table = recordio_faces(path)
    images: RecordImages = table.images
    for key, identity in zip(images.keys, table.identity):
        _, _, encoded = unpack_header(images.file.read(int(key)))
        suffix = ".png" if encoded.startswith(PNG_SIGNATURE) else ".jpg"
        target = Path(out_dir, table.names[identity], f"{key}{suffix}")
        if not target.exists():
            write_atomic(target, encoded)
    return len(table)
