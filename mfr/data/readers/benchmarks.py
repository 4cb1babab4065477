"""Readers for the published verification benchmarks: LFW-style pairs files, MFR2, MLFW, insightface .bin.

Each returns a `VerificationSet` whose images are decoded lazily, with the benchmark's own pairs
and folds, and whatever per-image labels the benchmark publishes in `meta` (MFR2: identity, masked,
mask_type, and template landmarks for drawing masks). A missing root or file is a `DataError` that
shows the layout expected; files are checked when the set is opened, images when they are read.
"""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path

import numpy as np

from mfr.data.readers.io import EncodedImages, ImageFiles, require
from mfr.data.readers.layouts import layout_landmarks
from mfr.data.readers.mask_labels import UNMASKED
from mfr.data.sets import VerificationSet
from mfr.errors import DataError

LFW_LAYOUT = """  {root}/{pairs}   a header line "<folds> <pairs per class>" (optional), then one pair a line:
      "Name i j" (two images of one person) or "Name1 i Name2 j" (two people), 1-based indices
  {root}/{images}/<Name>/<Name>_<iiii>.{ext}"""
MFR2_LAYOUT = """  {root}/pairs.txt           848 lines, "Name i j" (same person) or "Name1 i Name2 j" (different), 1-based
  {root}/mfr2_labels.txt     one "Name, i, mask_type" line per image (mask_type no-mask: unmasked)
  {root}/<Name>/<Name>_<iiii>.png   160x160 aligned faces"""
MLFW_LAYOUT = """  {root}/{pairs}   6,000 lines "img1<TAB>img2<TAB>label" (1 = same person), 10 folds of 600
  {root}/{images}/<img>       the aligned images the pairs name"""


def require_files(paths: list[Path], what: str, layout: str) -> None:
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = "\n".join(f"  {p}" for p in missing[:5])
        more = f"\n  ... and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DataError(
            f"{what}: {len(missing)} of {len(paths)} images are missing:\n{shown}{more}\n  expected layout:\n{layout}"
        )


def read_lfw_pairs(path: Path) -> tuple[list[tuple[str, int, str, int]], np.ndarray | None]:
    """LFW-style pairs: ([(name1, i1, name2, i2)], folds or None); same person when name1 == name2.

    A header "<sets> <n>" (LFW's "10 300") means `sets` folds of n matched then n mismatched pairs;
    without one the file defines no folds.
    """
    rows, header = [], None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if number == 1 and all(f.isdigit() for f in fields) and len(fields) <= 2:
            header = [int(f) for f in fields]
            continue
        try:
            if len(fields) == 3:
                rows.append((fields[0], int(fields[1]), fields[0], int(fields[2])))
            elif len(fields) == 4:
                rows.append((fields[0], int(fields[1]), fields[2], int(fields[3])))
            else:
                raise ValueError
        except ValueError:
            raise DataError(
                f"{path}:{number}: expected 'Name i j' or 'Name1 i Name2 j', got {line.strip()!r}"
            ) from None
    if header is None or len(header) == 1:
        return rows, None
    sets, per_class = header
    if sets * 2 * per_class != len(rows):
        raise DataError(
            f"{path}: the header promises {sets} folds of 2 x {per_class} pairs, the file has {len(rows)} pairs"
        )
    return rows, np.arange(len(rows)) // (2 * per_class)


def read_lfw(
    root: str, pairs: str = "pairs.txt", images: str = ".", ext: str = "jpg", name: str = "lfw"
) -> VerificationSet:
    """LFW (or any set in its layout): identity folders of <Name>_<iiii>.<ext> and an LFW pairs file."""
    root_path = Path(root)
    layout = LFW_LAYOUT.format(root=root_path, pairs=pairs, images=images, ext=ext)
    require(root_path, layout)
    rows, folds = read_lfw_pairs(require(root_path / pairs, layout, folder=False))
    index: dict[tuple[str, int], int] = {}  # (name, number) -> image index, in order of appearance
    pairs_index = [(index.setdefault((a, i), len(index)), index.setdefault((b, j), len(index))) for a, i, b, j in rows]
    same = [a == b for a, _, b, _ in rows]
    paths = [root_path / images / n / f"{n}_{i:04d}.{ext}" for n, i in index]
    require_files(paths, name, layout)
    meta = {"identity": np.array([n for n, _ in index])}
    return VerificationSet(name, ImageFiles(paths), np.array(pairs_index).reshape(-1, 2), same, folds, meta)


def read_mfr2_labels(path: Path) -> dict[tuple[str, int], str]:
    """'Name, i, mask_type' lines -> {(name, i): mask_type}."""
    labels = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")] if "," in line else line.split()
        try:
            identity, index, mask_type = fields
            labels[(identity, int(index))] = mask_type
        except ValueError:
            raise DataError(f"{path}:{number}: expected 'Name, i, mask_type', got {line.strip()!r}") from None
    return labels


def read_mfr2(root: str, name: str = "mfr2", layout: str = "mtcnn") -> VerificationSet:
    """MFR2 in its published layout: every labelled image, the 848 pairs, each image's mask type.

    Images are the labelled ones (pairs may only name labelled images); `meta["landmarks"]` holds
    the template placed in MFR2's 160x160 crop (`layout`), for drawing masks on references.
    """
    root_path = Path(root)
    expected = MFR2_LAYOUT.format(root=root_path)
    require(root_path, expected)
    labels = read_mfr2_labels(require(root_path / "mfr2_labels.txt", expected, folder=False))
    rows, folds = read_lfw_pairs(require(root_path / "pairs.txt", expected, folder=False))
    paired = {(a, i) for a, i, _, _ in rows} | {(b, j) for _, _, b, j in rows}
    unlabelled = sorted(paired - labels.keys())
    if unlabelled:
        n, i = unlabelled[0]
        raise DataError(
            f"{root_path / 'pairs.txt'}: {len(unlabelled)} paired images have no line in mfr2_labels.txt, e.g. {n} {i}"
        )
    keys = sorted(labels)
    position = {k: p for p, k in enumerate(keys)}
    pairs = np.array([(position[(a, i)], position[(b, j)]) for a, i, b, j in rows], np.int64).reshape(-1, 2)
    same = np.array([a == b for a, _, b, _ in rows], bool)
    paths = [root_path / n / f"{n}_{i:04d}.png" for n, i in keys]
    require_files(paths, "MFR2", expected)
    mask_type = np.array([labels[k] for k in keys])
    meta = {
        "identity": np.array([n for n, _ in keys]),
        "masked": (mask_type != UNMASKED).astype(np.int64),
        "mask_type": mask_type,
        "landmarks": np.broadcast_to(layout_landmarks(layout, 160), (len(keys), 68, 2)),
    }
    return VerificationSet(name, ImageFiles(paths), pairs, same, folds, meta)


IDENTITY_IN_NAME = re.compile(r"^(.+?)_\d{4}")


def read_mlfw(root: str, pairs: str = "pairs.txt", images: str = "aligned", name: str = "mlfw") -> VerificationSet:
    """MLFW: an image folder and the official pairs file; 10 contiguous folds of 600 pairs.

    Identities are read from LFW-style file names (<Name>_<iiii>...), when every name has one.
    """
    root_path = Path(root)
    expected = MLFW_LAYOUT.format(root=root_path, pairs=pairs, images=images)
    require(root_path, expected)
    pairs_path = require(root_path / pairs, expected, folder=False)
    rows = []
    for number, line in enumerate(pairs_path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or fields[2] not in ("0", "1"):
            raise DataError(
                f"{pairs_path}:{number}: expected 'img1<TAB>img2<TAB>label' with label 0 or 1, got {line.strip()!r}"
            )
        rows.append(fields)
    index: dict[str, int] = {}
    pair_index = np.array(
        [(index.setdefault(a, len(index)), index.setdefault(b, len(index))) for a, b, _ in rows], np.int64
    )
    same = np.array([label == "1" for _, _, label in rows], bool)
    paths = [root_path / images / f for f in index]
    require_files(paths, "MLFW", expected)
    names = [IDENTITY_IN_NAME.match(Path(f).name) for f in index]
    meta = {"identity": np.array([m.group(1) for m in names])} if all(names) else {}
    return VerificationSet(name, ImageFiles(paths), pair_index.reshape(-1, 2), same, None, meta)


class _PlainDataOnly(pickle.Unpickler):
    """Unpickles lists, bytes and bools only: a .bin is data, and a pickle that asks for code is refused."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"it asks for {module}.{name}; an insightface .bin holds only bytes and bools")


def read_insightface_bin(path: str, name: str | None = None) -> VerificationSet:
    """An insightface validation .bin (lfw.bin, agedb_30.bin, ...): a pickle of (encoded images, same flags).

    Images 2k and 2k+1 form pair k; 10 contiguous folds as insightface's own evaluation uses. Read
    without mxnet; the unpickler refuses anything but plain data.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"insightface .bin file not found: {file} (e.g. faces_webface_112x112/lfw.bin)")
    try:
        content = _PlainDataOnly(io.BytesIO(file.read_bytes()), encoding="bytes").load()
        blobs, same = content
        blobs, same = list(blobs), [bool(s) for s in same]
        if not all(isinstance(b, (bytes, bytearray)) for b in blobs):
            raise ValueError("its first list does not hold encoded images (bytes)")
    except Exception as exc:  # noqa: BLE001 - any failure to parse means the same thing: this is not a .bin file
        raise DataError(
            f"{file}: not an insightface .bin validation file, a pickle of (encoded images, same flags): {exc}"
        ) from None
    if len(blobs) != 2 * len(same):
        raise DataError(f"{file}: {len(blobs)} images for {len(same)} pairs; a .bin holds two images a pair")
    pairs = np.arange(len(blobs)).reshape(-1, 2)
    return VerificationSet(name or file.stem, EncodedImages(blobs, file), pairs, np.array(same, bool), None)
