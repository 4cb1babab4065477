"""Masked twins from mask_synth (MCASIA = CASIA-WebFace + its twins): the source domain's (x, x̂, identity).

`python -m mask_synth INPUT OUTPUT` writes each image's masked twin and mask map under OUTPUT and
one manifest record per source image (JSON Lines: `manifest.jsonl`, or `manifest-*.jsonl` per shard;
a resumed run appends, and the latest record of a source wins). The fields read, all in
`parse_manifest_record` so a change of mask_synth's format is a change of one function:

    source    the image's path relative to INPUT: its key in the source dataset
    status    "masked" or "fallback" give a usable twin; anything else (e.g. "failed") gives none
    masked    the twin's path relative to OUTPUT
    mask_map  the mask map's path relative to OUTPUT (kept in the record; training does not read it)
    reason    why a twin is missing (optional)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mask_synth.runner import iter_records
from mfr.data.readers.io import DatasetLayoutError, ImageFiles, require
from mfr.data.readers.table import Concat, FaceTable
from mfr.errors import ConfigError, DataError

log = logging.getLogger(__name__)

USABLE = ("masked", "fallback")
TWINS_LAYOUT = """  <twins>/manifest.jsonl (or manifest-*.jsonl)   one JSON record per source image, from `python -m mask_synth INPUT <twins>`
  <twins>/masked/<identity>/<image>               the masked twins
  <twins>/mask_map/<identity>/<stem>.png          the mask maps"""


class Twin(NamedTuple):
    source: str
    masked: str | None  # None: no usable twin
    mask_map: str | None
    reason: str | None


def parse_manifest_record(record: dict) -> Twin:
    """One manifest record as a Twin; the only place that knows mask_synth's field names."""
    usable = record.get("status") in USABLE and record.get("masked")
    if usable:
        return Twin(record["source"], record["masked"], record.get("mask_map"), None)
    return Twin(record["source"], None, None, record.get("reason") or f"status {record.get('status')!r}")


def read_manifest(twins_dir: Path) -> dict[str, Twin]:
    """The latest record of every source in all manifest files of `twins_dir` (read as mask_synth writes them)."""
    if not any(twins_dir.glob("manifest*.jsonl")):
        raise DatasetLayoutError(twins_dir, "holds no manifest.jsonl", TWINS_LAYOUT)
    twins = {}
    for record in iter_records(twins_dir):
        try:
            twin = parse_manifest_record(record)
        except KeyError as error:
            raise DataError(f"{twins_dir}: a manifest record has no {error.args[0]!r} field: {record}") from None
        twins[twin.source] = twin
    return twins


def attach_twins(table: FaceTable, twins_dir: str | Path) -> FaceTable:
    """`table` plus one row per usable twin (mask 1, same identity), linked from its source row (mask 0).

    Source images without a usable twin stay in the table unlinked; how many, and why, is logged.
    """
    twins_dir = require(twins_dir, TWINS_LAYOUT)
    if table.has_twins:
        raise ConfigError(
            f"the source already has masked twins (a pack made with --twins): leave out {twins_dir} "
            "(data.source.twins=null)"
        )
    twins = read_manifest(twins_dir)
    rows = [i for i, key in enumerate(table.keys) if key in twins and twins[key].masked]
    if not rows:
        raise DatasetLayoutError(
            twins_dir,
            f"has no usable twin of any image of the source dataset ({len(twins)} manifest records, "
            f"{len(table)} source images): was it made by mask_synth from this dataset's root?",
            TWINS_LAYOUT,
        )
    missing = [key for key in table.keys if key not in twins]
    failed = [twins[key] for key in table.keys if key in twins and not twins[key].masked]
    if missing or failed:
        reasons = "; ".join(f"{t.source} ({t.reason})" for t in failed[:3])
        log.warning(
            "%s: %d of %d source images have no masked twin (%d not in the manifest, %d failed%s)",
            twins_dir,
            len(missing) + len(failed),
            len(table),
            len(missing),
            len(failed),
            f": {reasons}" if failed else "",
        )
    rows = np.array(rows, np.int64)
    twin_keys = [twins[table.keys[r]].masked for r in rows]
    link, mask = table.twin.copy(), table.mask.copy()
    link[rows] = len(table) + np.arange(len(rows))
    mask[rows] = 0  # a face mask_synth masked was unmasked
    return FaceTable(
        Concat(table.images, ImageFiles([twins_dir / k for k in twin_keys])),
        table.keys + [f"twins/{k}" for k in twin_keys],
        np.concatenate([table.identity, table.identity[rows]]),
        table.names,
        np.concatenate([mask, np.ones(len(rows), np.int8)]),
        np.concatenate([link, np.full(len(rows), -1, np.int64)]),
    )
