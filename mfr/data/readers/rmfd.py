"""RMFD (the Real-World Masked Face Dataset) and its two uses: RMFD_DA and RMFD_FV.

RMFD comes as `AFDB_face_dataset/<identity>/` (unmasked) and `AFDB_masked_face_dataset/<identity>/`
(masked): the top folder gives the mask label, the subfolder the identity. Its identities are split,
deterministically and disjointly, into
- RMFD_DA: real images with mask labels, the target domain of the mask discriminator (identities unused);
- RMFD_FV: masked-vs-unmasked verification pairs, half of them genuine, drawn once with a fixed seed
  and written to a pairs file that later runs read back, so results stay comparable across runs.
  `probes="unmasked"` pairs the same people's unmasked photos with each other instead: a control that
  says how well a model knows RMFD's faces at all, before masks come into it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from mask_synth.dataset import write_atomic
from mfr.data.pairs import make_pairs
from mfr.data.readers.alignment import alignment_landmarks
from mfr.data.readers.io import DatasetLayoutError, SkippedImages, read_all
from mfr.data.readers.sources import open_faces
from mfr.data.readers.table import FaceTable
from mfr.data.sets import VerificationSet, read_verification_set
from mfr.errors import ConfigError, DataError

log = logging.getLogger(__name__)

PROBES = {"masked": 1, "unmasked": 0}  # RMFD_FV's probes: its mask label


def split_identities(table: FaceTable, fv_share: float = 0.5, seed: int = 0) -> tuple[list[str], list[str]]:
    """(RMFD_DA identities, RMFD_FV identities): disjoint, and the same for the same names and seed.

    FV takes `fv_share` of the identities that have both masked and unmasked images (pairs need
    both), chosen by a seeded permutation of their sorted names; DA gets every other identity.
    """
    has_masked = np.bincount(table.identity[table.mask == 1], minlength=len(table.names)) > 0
    has_unmasked = np.bincount(table.identity[table.mask == 0], minlength=len(table.names)) > 0
    eligible = sorted(table.names[i] for i in np.flatnonzero(has_masked & has_unmasked))
    chosen = np.random.default_rng(seed).permutation(len(eligible))[: int(round(fv_share * len(eligible)))]
    fv = sorted(eligible[i] for i in chosen)
    taken = set(fv)
    return [n for n in table.names if n not in taken], fv


def rmfd_da(root: str | Path, fv_share: float = 0.5, seed: int = 0) -> FaceTable:
    """RMFD_DA: the images (with mask labels) of the identities RMFD_FV does not use."""
    table = open_faces(root)
    da, _ = split_identities(table, fv_share, seed)
    return table.with_identities(da)


def rmfd_fv(
    root: str | Path,
    pairs_file: str | Path,
    image_size: int | None = None,
    fv_share: float = 0.5,
    seed: int = 0,
    num_pairs: int = 6000,
    folds: int = 10,
    name: str = "rmfd_fv",
    probes: str = "masked",
) -> VerificationSet:
    """RMFD_FV: masked-vs-unmasked pairs of held-out identities, read from `pairs_file`.

    The first run draws the pairs (half genuine, identity-disjoint folds, seeded) and writes the
    file; later runs read it back and refuse one drawn with other options. Images are decoded once
    here (resized to `image_size`); pairs on an unreadable image are dropped and reported.
    """
    table = open_faces(root)
    if probes not in PROBES:
        raise ConfigError(f"data.val_sets.{name}.probes={probes!r}; allowed: {', '.join(PROBES)}")
    options = {"fv_share": fv_share, "seed": seed, "num_pairs": num_pairs, "folds": folds}
    if probes != "masked":  # files drawn before the option existed hold masked probes and no such key
        options["probes"] = probes
    pairs_file = Path(pairs_file).expanduser()
    skipped = SkippedImages(name)
    if not pairs_file.exists():
        _, fv = split_identities(table, fv_share, seed)
        held_out = table.with_identities(fv)
        try:
            pairs, same, fold = draw_readable_pairs(held_out, PROBES[probes], num_pairs, folds, seed, skipped)
        except ValueError as error:  # too few held-out identities for identity-disjoint folds
            raise DataError(
                f"{root}: RMFD_FV {error} (fv_share={fv_share}); lower data.val_sets.{name}.folds "
                f"or raise data.target.fv_share"
            ) from None
        write_pairs_file(pairs_file, options, [[held_out.keys[a], held_out.keys[b]] for a, b in pairs], same, fold)
    keys, same, fold = read_pairs_file(pairs_file, options)

    def meta(rows: np.ndarray) -> dict[str, np.ndarray]:
        found = {"identity": table.identity[rows], "masked": table.mask[rows].astype(np.int64)}
        return found | alignment_landmarks(root, [table.keys[row] for row in rows], image_size)  # MR-MP's masks

    fv = read_verification_set(name, table, rows_of(table, keys, pairs_file), same, fold, meta, image_size, skipped)
    log.info(
        "%s: %d %s-vs-unmasked pairs (%d genuine) over %d images of %d identities, from %s",
        name,
        len(fv.same),
        probes,
        int(fv.same.sum()),
        len(fv.images),
        len(np.unique(fv.meta["identity"])),
        pairs_file,
    )
    return fv


def draw_readable_pairs(
    table: FaceTable, probe_mask: int, num_pairs: int, folds: int, seed: int, skipped: SkippedImages
):
    """make_pairs over probes with mask label `probe_mask` and unmasked references, redrawn without any image found
    unreadable."""
    readable = np.ones(len(table), bool)
    checked = np.zeros(len(table), bool)
    while True:
        pairs, same, fold = make_pairs(
            table.identity,
            (table.mask == probe_mask) & readable,
            (table.mask == 0) & readable,
            num_pairs,
            folds=folds,
            seed=seed,
        )
        todo = np.setdiff1d(np.unique(pairs), np.flatnonzero(checked))
        if not len(todo):
            return pairs, same, fold
        found = read_all(table.select(todo).images, skipped)
        checked[todo] = True
        readable[todo] = [image is not None for image in found]


def rows_of(table: FaceTable, keys: list[list[str]], pairs_file: Path) -> np.ndarray:
    row = {k: i for i, k in enumerate(table.keys)}
    missing = sorted({k for pair in keys for k in pair if k not in row})
    if missing:
        raise DatasetLayoutError(
            pairs_file,
            f"names {len(missing)} images that are not in the dataset (first: {missing[0]})",
            "  the pairs file's paths, relative to the RMFD root; delete the file to draw new pairs from this copy",
        )
    return np.array([[row[a], row[b]] for a, b in keys], np.int64).reshape(-1, 2)


PAIRS_HEADER = (
    "# mfr RMFD_FV pairs: masked image, unmasked image (paths relative to the RMFD root), same identity (1/0), fold"
)


def write_pairs_file(path: Path, options: dict, keys, same, fold) -> None:
    lines = [PAIRS_HEADER, f"# options: {json.dumps(options, sort_keys=True)}"]
    lines += [f"{a}\t{b}\t{int(s)}\t{int(f)}" for (a, b), s, f in zip(keys, same, fold)]
    write_atomic(path, "\n".join(lines) + "\n")
    log.info("wrote %d RMFD_FV pairs to %s (later runs read them back)", len(keys), path)


def read_pairs_file(path: Path, options: dict) -> tuple[list[list[str]], np.ndarray, np.ndarray]:
    lines = path.read_text().splitlines()
    stored = next((json.loads(line[len("# options:") :]) for line in lines if line.startswith("# options:")), None)
    if stored != json.loads(json.dumps(options)):
        raise DataError(
            f"{path} was drawn with options {stored}, this run asks for {options}: "
            "use the same options, or point pairs_file at a new file"
        )
    keys, same, fold = [], [], []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            raise DataError(f"{path}, line {number}: expected 4 tab-separated fields (masked, unmasked, same, fold)")
        keys.append(fields[:2])
        same.append(fields[2] == "1")
        fold.append(int(fields[3]))
    return keys, np.array(same, bool), np.array(fold, np.int64)
