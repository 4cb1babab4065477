"""What a researcher must know about a face dataset before training on it: `audit(table)`, `photo_groups`.

One threaded pass decodes every image once and keeps three things of it: its size, a hash of its pixels
and a 16x16 grey thumbnail of its central 60%, zero-mean and unit-norm, so that the dot product of two
thumbnails is their correlation (blind to brightness and contrast, to re-encoding and resizing; the
centre, because the borders of one photo aligned from two differently framed sources differ). From those:

- photos per identity: the imbalance, identities with fewer than 2 photos (no genuine pair), and
  identity names alike enough to be one person spelt two ways (Jon_Smith, John_Smith);
- near-duplicate photos: thumbnails correlated above a threshold (one tiled product over all pairs),
  or the same pixels (the hash; also for blank images, whose thumbnails hold no pattern). Within one
  identity they make trivially easy genuine pairs and over-weight a photo; across identities they are
  one photo under two names: a person split over two folders, or a mislabel. A group is a connected
  component of such pairs;
- image sizes, and for a set `mfr.align` wrote (its manifest.jsonl at the root), the side of the
  region of the source photo that became each aligned image: an aligned set is all one size, and a
  face upsampled from a few dozen pixels is a blur.

Thumbnails only match photos framed alike: aligned faces, or the same crop. `photo_groups` turns an
audit into a photo id per row of a FaceTable, so that verification pairs can avoid pairing a photo with
its own copy.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from mask_synth.dataset import write_atomic
from mask_synth.runner import load_records
from mfr.data.readers.io import SkippedImages, map_images
from mfr.data.readers.table import FaceTable
from mfr.errors import DataError

THUMBNAIL = 16  # side of the grey thumbnails compared
CENTRE = (
    0.6  # of each side, kept for the thumbnail: on the 12,804 aligned realfaces, one photo aligned from two sources
)
# correlates at 0.995 and no two people's photos above 0.981 (the whole image: 0.936, and two people's photos above 0.985)
THRESHOLD = 0.985  # correlation above which two thumbnails are one photo
SMALL = 64  # pixels: a side under this is reported as small
BLANK = 1.0  # grey levels: a thumbnail with less spread holds no pattern, and is compared by its hash only
SEPARATORS = "_ .'-"  # between the words of an identity's name
BLOCK = 1024  # side of the tiles of the all-pairs product (a tile: 4 MiB of float32)


@dataclass
class Scan:
    """What the pass kept of each row: thumbnails (n, 256) zero where blank or unreadable, pixel digests, sizes."""

    thumbnails: np.ndarray
    digests: list[bytes | None]
    sizes: np.ndarray  # (n, 2) height, width; 0 where unreadable
    read: np.ndarray  # bool
    blank: np.ndarray  # bool
    skipped: SkippedImages


def scan(table: FaceTable, threads: int = 8) -> Scan:
    """Decode every image of `table` once (in threads) and keep its thumbnail, digest and size."""

    def facts(i, image):
        (height, width), margin = image.shape[:2], (1 - CENTRE) / 2
        top, left = round(height * margin), round(width * margin)
        centre = image[top : height - top, left : width - left]
        grey = cv2.resize(
            cv2.cvtColor(centre, cv2.COLOR_RGB2GRAY), (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA
        )
        digest = hashlib.blake2b(np.ascontiguousarray(image), digest_size=16)
        digest.update(repr(image.shape).encode())
        return grey.astype(np.float32).ravel(), digest.digest(), image.shape[:2]

    skipped = SkippedImages("mfr.audit")
    results = map_images(table.images, facts, skipped, threads)
    read = np.array([r is not None for r in results], bool)
    thumbnails = np.zeros((len(table), THUMBNAIL * THUMBNAIL), np.float32)
    sizes = np.zeros((len(table), 2), np.int64)
    for i, result in enumerate(results):
        if result is not None:
            thumbnails[i], sizes[i] = result[0], result[2]
    thumbnails -= thumbnails.mean(1, keepdims=True)
    spread = np.sqrt((thumbnails**2).mean(1))
    blank = read & (spread < BLANK)
    thumbnails /= np.where(blank | ~read, 1.0, spread * THUMBNAIL)[:, None]  # unit norm: the mean square times 256
    thumbnails[blank] = 0
    return Scan(thumbnails, [r and r[1] for r in results], sizes, read, blank, skipped)


def similar_pairs(thumbnails: np.ndarray, threshold: float, block: int = BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """The row pairs (i < j) whose thumbnails correlate above `threshold`: the upper triangle of the product of
    all thumbnails with all, in block x block tiles, so memory stays at one tile whatever the dataset's size."""
    firsts, seconds = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for top in range(0, len(thumbnails), block):
        for left in range(top, len(thumbnails), block):
            i, j = np.nonzero(thumbnails[top : top + block] @ thumbnails[left : left + block].T > threshold)
            i, j = i + top, j + left
            firsts.append(i[j > i])
            seconds.append(j[j > i])
    return np.concatenate(firsts), np.concatenate(seconds)


def components(n: int, edges: list[tuple[int, int]]) -> list[list[int]]:
    """The rows of each connected component of more than one row, in the graph of n rows with these edges."""
    first, second = np.array(edges, np.int64).reshape(-1, 2).T
    _, component = connected_components(
        coo_matrix((np.ones(len(first)), (first, second)), shape=(n, n)), directed=False
    )
    members = defaultdict(list)
    for row in np.flatnonzero(np.bincount(component)[component] > 1):
        members[component[row]].append(int(row))
    return list(members.values())


def duplicates(table: FaceTable, found: Scan, threshold: float) -> dict:
    """Exact and near-duplicate pairs, counted within and across identities; their groups; the merge candidates."""
    same_pixels = defaultdict(list)
    for row, digest in enumerate(found.digests):
        if digest is not None:
            same_pixels[digest].append(row)
    exact = [rows for rows in same_pixels.values() if len(rows) > 1]
    near = [(i, j) for i, j in zip(*similar_pairs(found.thumbnails, threshold)) if found.digests[i] != found.digests[j]]
    pairs = Counter()
    for rows in exact:
        same_identity = sum(k * (k - 1) // 2 for k in Counter(table.identity[rows]).values())
        pairs["exact_within"] += same_identity
        pairs["exact_across"] += len(rows) * (len(rows) - 1) // 2 - same_identity
    for i, j in near:
        pairs["within" if table.identity[i] == table.identity[j] else "across"] += 1

    within, across, merges = [], [], Counter()
    for rows in components(len(table), near + [pair for group in exact for pair in zip(group, group[1:])]):
        names = sorted({table.names[i] for i in table.identity[rows]})
        (within if len(names) == 1 else across).append(
            {"identities": names, "keys": sorted(table.keys[r] for r in rows)}
        )
        merges.update(combinations(names, 2))
    return {
        "threshold": threshold,
        "thumbnail": THUMBNAIL,
        "pairs": {
            "within": pairs["within"] + pairs["exact_within"],
            "across": pairs["across"] + pairs["exact_across"],
            "exact_within": pairs["exact_within"],
            "exact_across": pairs["exact_across"],
        },
        "blank": int(found.blank.sum()),
        "merge_candidates": [
            {"identities": list(pair), "shared_photos": n}
            for pair, n in sorted(merges.items(), key=lambda m: (-m[1], m[0]))
        ],
        "within": sorted(within, key=lambda g: g["keys"]),
        "across": sorted(across, key=lambda g: g["keys"]),
    }


def histogram(counts: np.ndarray) -> dict[str, int]:
    """Identities by photo count in doubling bins: "<2", "2-3", "4-7", ... up to the largest count."""
    bins = {"<2": int((counts < 2).sum())}
    low = 2
    while low <= counts.max(initial=0):
        bins[f"{low}-{2 * low - 1}"] = int(((counts >= low) & (counts < 2 * low)).sum())
        low *= 2
    return bins


def words(name: str) -> tuple[str, ...] | None:
    """A name's lower-case words, or None for one that is not two words or more (an id: 0000045, m.0abc12)."""
    if not all(c.isalpha() or c in SEPARATORS for c in name):
        return None
    found = tuple(w for w in re.split(f"[{re.escape(SEPARATORS)}]+", name.lower()) if w)
    return found if len(found) >= 2 else None


def one_edit(a: str, b: str) -> bool:
    """Whether two different words are one letter apart: one changed, added or dropped."""
    a, b = sorted((a, b), key=len)
    if len(b) - len(a) > 1:
        return False
    i = next((k for k in range(len(a)) if a[k] != b[k]), len(a))
    return a[i + (len(a) == len(b)) :] == b[i + 1 :]


def similar_names(names: list[str]) -> list[list[str]]:
    """Pairs of identity names that may be one person under two spellings: the same first and last word with
    words left out of one (Anna_Berg, Anna_K_Berg), or all words alike but one, one letter apart (Jon_Smith,
    John_Smith). Names are bucketed first, so this is quick for any number of identities."""
    spelt = {name: w for name in names if (w := words(name))}
    by_ends, by_others = defaultdict(list), defaultdict(list)
    for name, w in spelt.items():
        by_ends[w[0], w[-1]].append(name)
        for k in range(len(w)):
            by_others[w[:k] + ("",) + w[k + 1 :]].append((name, w[k]))
    pairs = set()
    for group in by_ends.values():
        for a, b in combinations(sorted(group), 2):
            short, long = sorted((spelt[a], spelt[b]), key=len)
            remaining = iter(long)
            if len(short) < len(long) and all(w in remaining for w in short):  # a subsequence
                pairs.add((a, b))
    for group in by_others.values():
        pairs.update(
            tuple(sorted((a, b))) for (a, wa), (b, wb) in combinations(group, 2) if wa != wb and one_edit(wa, wb)
        )
    return [list(pair) for pair in sorted(pairs)]


def identities(table: FaceTable, read: np.ndarray) -> dict:
    """Readable photos per identity: spread, histogram, the largest identities, and those with fewer than 2."""
    counts = np.bincount(table.identity[read], minlength=len(table.names))
    order = np.argsort(-counts, kind="stable")
    return {
        "count": len(table.names),
        "min": int(counts.min()),
        "median": float(np.median(counts)),
        "mean": round(float(counts.mean()), 2),
        "max": int(counts.max()),
        "largest_10_share": round(float(counts[order[:10]].sum() / max(1, counts.sum())), 4),
        "histogram": histogram(counts),
        "largest": [[table.names[i], int(counts[i])] for i in order[:10]],
        "under_two": [table.names[i] for i in np.flatnonzero(counts < 2)],
        "similar_names": similar_names(table.names),
    }


def small_sides(keys: list[str], sides: np.ndarray, small: int) -> dict:
    """The smallest and median of per-image sides, and which fall under `small` pixels."""
    order = np.argsort(sides, kind="stable")
    under = order[sides[order] < small]
    return {
        "smallest": {"key": keys[order[0]], "side": round(float(sides[order[0]]), 1)},
        "median_side": round(float(np.median(sides)), 1),
        "under": {
            "side": small,
            "count": len(under),
            "share": round(len(under) / len(sides), 4),
            "keys": [keys[i] for i in under],
        },
    }


def source_faces(root: Path, table: FaceTable, sizes: np.ndarray, small: int) -> dict | None:
    """For a set `mfr.align` wrote: per image, the side of the source region its aligned square was warped from.

    The manifest's transform maps source to aligned pixels with scale s = |(a, b)|, so an aligned side of
    w pixels came from w / s source pixels; under `small`, the aligned face is an upsampled blur. None when
    `root` holds no such manifest.
    """
    if not any(root.glob("manifest*.jsonl")):
        return None
    records = load_records(root)
    row_of = {key: row for row, key in enumerate(table.keys)}
    rows, sides = [], []
    for record in records.values():
        row = row_of.get(record.get("aligned"))
        if row is not None and record.get("transform") and sizes[row, 1]:
            (a, b, _), _ = record["transform"]
            rows.append(row)
            sides.append(sizes[row, 1] / float(np.hypot(a, b)))
    if not rows:
        return None
    failed = sum(record.get("aligned") is None for record in records.values())
    return {
        "manifest": str(root / "manifest.jsonl"),
        "faces": len(rows),
        "not_aligned": failed,
        **small_sides([table.keys[r] for r in rows], np.array(sides), small),
    }


def audit(
    table: FaceTable, root: str | Path | None = None, threshold: float = THRESHOLD, small: int = SMALL, threads: int = 8
) -> dict:
    """Every figure of the audit of `table` as a JSON-ready dict (see the module's docstring).

    `root`: the dataset's folder, where an alignment manifest is looked for. Masked twins are synthetic
    copies, not photos: their rows are left out (`photo_groups` gives each its original's id).
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold={threshold}: a correlation, in (0, 1]")
    started = time.perf_counter()
    twins = np.zeros(len(table), bool)
    twins[table.twin[table.twin >= 0]] = True
    table = table.select(np.flatnonzero(~twins))
    found = scan(table, threads)
    read_seconds = time.perf_counter() - started
    if not found.read.any():
        path, reason = found.skipped.files[0]
        raise DataError(
            f"{root or 'the dataset'}: none of its {len(table)} images could be read, e.g. {path} ({reason})"
        )
    report = {
        "root": str(root) if root is not None else None,
        "images": len(table),
        "read": int(found.read.sum()),
        "left_out_twins": int(twins.sum()),
        "unreadable": [{"path": path, "reason": reason} for path, reason in found.skipped.files],
        "identities": identities(table, found.read),
    }
    rows = np.flatnonzero(found.read)
    heights, widths = found.sizes[rows].T
    report["sizes"] = {
        "heights": [int(heights.min()), int(heights.max())],
        "widths": [int(widths.min()), int(widths.max())],
        **small_sides([table.keys[r] for r in rows], np.minimum(heights, widths), small),
    }
    report["source_faces"] = source_faces(Path(root), table, found.sizes, small) if root is not None else None
    compared = time.perf_counter()
    report["duplicates"] = duplicates(table, found, threshold)
    finished = time.perf_counter()
    report["seconds"] = {
        "read": round(read_seconds, 2),
        "threads": threads,
        "compare": round(finished - compared, 2),
        "total": round(finished - started, 2),
    }
    return report


def write_audit(report: dict, path: str | Path) -> None:
    """Write the audit as JSON, atomically (a reader never sees half a file)."""
    write_atomic(Path(path), (json.dumps(report, indent=1) + "\n").encode())


def load_audit(audit: dict | str | Path) -> dict:
    """An audit dict as given, or read from its audit.json; DataError naming the file when it is not one."""
    if isinstance(audit, dict):
        return audit
    path = Path(audit)
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(
            f"{path}: no such audit file; write it with `python -m mfr.audit DATASET --out {path}`"
        ) from None
    except ValueError as error:
        raise DataError(f"{path}: not JSON ({error})") from None
    if not isinstance(report, dict) or not {"within", "across"} <= set(report.get("duplicates") or {}):
        raise DataError(f"{path}: not an audit written by mfr.audit (no duplicates.within / duplicates.across)")
    return report


def photo_groups(table: FaceTable, audit_or_path: dict | str | Path | None = None) -> np.ndarray:
    """A photograph id (0..k-1) per row of `table`: one id for the rows of each near-duplicate group of the audit.

    A masked twin shares its original's id; every other row has an id of its own (all of them, without an
    audit). Rows are matched to the audit by key, so an audit serves every table of the audited set: with
    twins, packed, a subset of its identities, or the photos it was aligned from (mfr.align keeps their paths).
    """
    report = load_audit(audit_or_path) if audit_or_path is not None else {"duplicates": {"within": [], "across": []}}
    row_of = {key: row for row, key in enumerate(table.keys)}
    photo = np.arange(len(table))
    for group in report["duplicates"]["within"] + report["duplicates"]["across"]:
        rows = [row_of[key] for key in group["keys"] if key in row_of]
        if rows:
            photo[rows] = min(rows)
    linked = np.flatnonzero(table.twin >= 0)
    photo[table.twin[linked]] = photo[linked]
    return np.unique(photo, return_inverse=True)[1]
