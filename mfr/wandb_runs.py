"""W&B runs as `mfr.runs.Run`s: from run folders on disk (offline or not yet synced) or from the online API.

An offline run folder (`wandb/offline-run-<time>-<id>/`) holds no JSON summary or config: everything
is in `run-<id>.wandb`, a LevelDB-style log of protobuf `Record`s (the format `wandb sync` uploads).
wandb no longer ships a reader for it, so `read_records` reads the log format (32 KiB blocks of
CRC-checked chunks) and parses each record with wandb's own protobuf classes.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from mfr.errors import DataError
from mfr.runs import Run, flatten

METRIC_PREFIXES = ("val/", "eval/")  # what a run's final metrics are; train/ values are curves only
STEP_KEYS = ("trainer/global_step", "_step")  # Lightning's step first, W&B's own counter otherwise

_HEADER = struct.Struct("<4sHB")  # ident, magic, version
_CHUNK = struct.Struct("<IHB")  # crc32, length, type
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_records(path: Path) -> Iterator:
    """Every protobuf Record of a .wandb file, in order; a truncated tail (a run still writing) ends the scan."""
    from wandb.proto import wandb_internal_pb2 as pb  # wandb's import is slow; only W&B runs need it

    data = path.read_bytes()
    if len(data) < _HEADER.size or _HEADER.unpack_from(data)[:2] != (b":W&B", 0xBEE1):
        raise DataError(f"{path}: not a W&B transaction log (no ':W&B' header)")
    pos, pending = _HEADER.size, b""
    while pos + _CHUNK.size <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _CHUNK.size:  # block trailer padding
            pos += left
            continue
        crc, length, kind = _CHUNK.unpack_from(data, pos)
        chunk = data[pos + _CHUNK.size : pos + _CHUNK.size + length]
        pos += _CHUNK.size + length
        if kind == 0 and length == 0:
            continue
        if len(chunk) < length or zlib.crc32(chunk, zlib.crc32(bytes([kind]))) != crc:
            return
        if kind in (_FULL, _FIRST):
            pending = chunk
        else:
            pending += chunk
        if kind in (_FULL, _LAST):
            record = pb.Record()
            record.ParseFromString(pending)
            yield record


def _items(updates) -> Iterator[tuple[str, object]]:
    for item in updates:
        yield (item.key or "/".join(item.nested_key)), json.loads(item.value_json)


def _step(row: dict) -> int | None:
    return next((int(row[k]) for k in STEP_KEYS if isinstance(row.get(k), (int, float))), None)


def _curves(rows: list[dict]) -> dict[str, list[tuple[int, float]]]:
    curves: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        step = _step(row)
        for key, value in row.items():
            if (
                step is not None
                and not key.startswith("_")
                and key not in STEP_KEYS
                and isinstance(value, (int, float))
            ):
                curves.setdefault(key, []).append((step, float(value)))
    return curves


def _final_metrics(summary: dict) -> dict[str, float]:
    return {k: float(v) for k, v in summary.items() if k.startswith(METRIC_PREFIXES) and isinstance(v, (int, float))}


def load_offline_run(run_dir: Path, name: str | None = None) -> Run:
    """A W&B run folder (offline-run-*/ or run-*/) read from its .wandb file."""
    logs = sorted(run_dir.glob("*.wandb"))
    if not logs:
        raise DataError(f"{run_dir}: no .wandb file (a W&B run folder holds run-<id>.wandb)")
    config, summary, rows, run_id = {}, {}, [], run_dir.name
    for record in read_records(logs[0]):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run_id = record.run.run_id or run_id
            config.update(_items(record.run.config.update))
        elif kind == "config":
            config.update(_items(record.config.update))
        elif kind == "summary":
            summary.update(_items(record.summary.update))
        elif kind == "history":
            rows.append(dict(_items(record.history.item)))
    config.pop("_wandb", None)
    return Run(name or run_id, str(run_dir), flatten(config), _final_metrics(summary), _curves(rows))


def find_offline_runs(root: Path) -> list[Path]:
    """W&B run folders at or under `root`: folders holding a .wandb file."""
    return sorted({p.parent for p in root.rglob("*.wandb")})


def load_online_runs(project: str, group: str | None = None) -> list[Run]:
    """The runs of ENTITY/PROJECT (optionally one group) from the W&B API; needs `wandb login` and network."""
    import wandb

    filters = {"group": group} if group else {}
    runs = []
    for r in wandb.Api().runs(project, filters=filters):
        config = {k: v for k, v in r.config.items() if not k.startswith("_")}
        runs.append(
            Run(
                r.name,
                f"wandb:{'/'.join(r.path)}",
                flatten(config),
                _final_metrics(dict(r.summary)),
                _curves(list(r.scan_history())),
            )
        )
    return runs
