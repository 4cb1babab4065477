"""Training runs on disk, as `python -m mfr.fit` leaves them: found, read, and their checkpoints looked up.

A finished run is a folder with `metrics.json` (final validation metrics), `.hydra/config.yaml` (the
composed config, interpolations unresolved), `csv/version_*/metrics.csv` (learning curves, with the
csv or wandb logger) and `checkpoints/last.ckpt`. `mfr.compare` reads runs from here; the notebooks
pick their checkpoints here.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from mfr.errors import DataError

RUN_LAYOUT = "a run folder of python -m mfr.fit: metrics.json, .hydra/config.yaml, csv/version_*/metrics.csv"


@dataclass
class Run:
    """One training run, wherever it was read from (a run folder, a W&B run)."""

    name: str
    source: str  # where it was read from: a folder or a W&B run path
    config: dict[str, object]  # flattened: {"model.refine.enabled": True, ...}
    metrics: dict[str, float]  # final metrics: val/<set>/<metric>, eval/<set>/<metric>
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # key -> [(step, value)]
    choices: dict[str, str] = field(default_factory=dict)  # the config group options chosen: {"experiment": "srt", ...}


def flatten(tree, prefix: str = "") -> dict[str, object]:
    """A nested config as {"dotted.key": value}; lists stay whole values (a list is one setting)."""
    if not isinstance(tree, dict):
        return {prefix: tree} if prefix else {}
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, path))
        else:
            flat[path] = tuple(value) if isinstance(value, list) else value
    return flat


def find_runs(root: Path) -> list[Path]:
    """Every finished run folder (one holding metrics.json) at or under `root`, sorted."""
    if (root / "metrics.json").is_file():
        return [root]
    return sorted(p.parent for p in root.rglob("metrics.json"))


def unfinished_runs(root: Path) -> list[Path]:
    """Run folders under `root` that started (they have .hydra/) but wrote no metrics.json: failed or still running."""
    return sorted(p.parent for p in root.rglob(".hydra") if not (p.parent / "metrics.json").is_file())


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not readable as JSON ({exc}); expected {RUN_LAYOUT}") from None


def read_curves(csv_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Learning curves from the newest `csv/version_*/metrics.csv` of a run ({} when there is none)."""
    versions = sorted(csv_dir.glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[-1]))
    if not versions:
        return {}
    curves: dict[str, list[tuple[int, float]]] = {}
    with versions[-1].open(newline="") as f:
        for row in csv.DictReader(f):
            step = int(float(row.get("step") or 0))
            for key, value in row.items():
                if key in ("step", "epoch") or value in ("", None):
                    continue
                number = float(value)
                if math.isfinite(number):
                    curves.setdefault(key, []).append((step, number))
    return curves


def group_choices(run_dir: Path) -> dict[str, str]:
    """The config group options a run chose ({"experiment": "dann", "data": "demo", ...}), from .hydra/hydra.yaml."""
    path = run_dir / ".hydra" / "hydra.yaml"
    if not path.is_file():
        return {}
    choices = ((yaml.safe_load(path.read_text()) or {}).get("hydra") or {}).get("runtime", {}).get("choices") or {}
    return {str(k): str(v) for k, v in choices.items() if v is not None}


def saved_config(run_dir: Path) -> dict[str, object]:
    """A run's .hydra/config.yaml, flattened ({} when the run has none)."""
    path = run_dir / ".hydra" / "config.yaml"
    return flatten(yaml.safe_load(path.read_text())) if path.is_file() else {}


def load_run(run_dir: Path, name: str | None = None) -> Run:
    """A finished run folder as a Run (config unresolved, as Hydra saved it)."""
    summary = _read_json(run_dir / "metrics.json")
    if not isinstance(summary.get("metrics"), dict):
        raise DataError(f"{run_dir / 'metrics.json'}: no 'metrics' mapping; expected {RUN_LAYOUT}")
    return Run(
        name=name or run_dir.name,
        source=str(run_dir),
        config=saved_config(run_dir),
        metrics={k: float(v) for k, v in summary["metrics"].items() if v is not None},
        curves=read_curves(run_dir / "csv"),
        choices=group_choices(run_dir),
    )


def run_config(run_dir: Path) -> DictConfig:
    """A run's saved config, resolvable outside Hydra: `paths` pinned to where the run ran and wrote."""
    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    hydra_file = run_dir / ".hydra" / "hydra.yaml"
    cwd = OmegaConf.load(hydra_file).hydra.runtime.cwd if hydra_file.is_file() else str(Path.cwd())
    cfg.paths.root_dir = cwd
    cfg.paths.output_dir = str(run_dir)
    return cfg


def run_of_checkpoint(ckpt: Path) -> Path:
    """The run folder a checkpoint was written into (<run>/checkpoints/<file>.ckpt)."""
    run_dir = Path(ckpt).resolve().parent.parent
    if not (run_dir / ".hydra" / "config.yaml").is_file():
        raise DataError(f"{ckpt}: not inside a run folder of python -m mfr.fit (no {run_dir / '.hydra/config.yaml'})")
    return run_dir


def newest_checkpoint(root: Path, where: dict[str, object] | None = None) -> Path | None:
    """checkpoints/last.ckpt of the newest finished run under `root` whose config matches `where`
    ({"model.refine.enabled": True}); None when there is none."""
    if not root.is_dir():
        return None
    matches = []
    for run_dir in find_runs(root):
        ckpt = run_dir / "checkpoints" / "last.ckpt"
        config = saved_config(run_dir)
        if ckpt.is_file() and all(config.get(k) == v for k, v in (where or {}).items()):
            matches.append(ckpt)
    return max(matches, key=lambda p: p.stat().st_mtime, default=None)
