"""`python -m mfr.compare PATH --methods [--published]`: runs laid out as the paper's Table 4, one row per method.

A run's method is the experiment it ran (`experiment=...`: Hydra's choice, from .hydra/hydra.yaml of a run folder,
or the `experiment_name` a Table 4 sweep logs to W&B). Each row holds mean ± sample std over the row's runs (seeds)
of every metric asked for; runs of one experiment that differ in anything but the seed are refused, since they are
not one method. With `published`, the papers' own figures (experiments/published.yaml: each with its source) are
added as columns beside ours; they are on the papers' benchmarks, which the demo data is not.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import yaml

from mask_synth.dataset import atomic_path, write_atomic
from mfr.compare import REPLICATE_KEYS, Cell, differing_keys
from mfr.compare import _mean_std as mean_std
from mfr.errors import ConfigError, DataError
from mfr.runs import Run

# Table 4's rows in order, with the names the table gives them; other experiments follow, by their own name.
METHODS = {
    "baseline_arcface": "ArcFace (unmasked faces)",
    "retrained_arcface": "ArcFace retrained (+ masked twins)",
    "focusface": "FocusFace (Neto et al. 2021)",
    "srt": "STL: SRT + EUM (Boutros et al. 2022)",
    "refine": "mfr: refinement",
    "dann": "mfr: DANN",
    "dann_refine": "mfr: refinement + DANN (full)",
}
PUBLISHED = Path(__file__).resolve().parents[1] / "experiments" / "published.yaml"
FIGURE_KEYS = ("method", "benchmark", "metric", "value", "source")


@dataclass
class Figure:
    """One published figure: `value` of `metric` on `benchmark` for `method` (an experiment name), and where it is printed."""

    method: str
    benchmark: str
    metric: str
    value: float
    source: str

    @property
    def column(self) -> str:
        return f"{self.benchmark} {self.metric} (published)"


def experiment_of(run: Run) -> str | None:
    """The experiment a run ran, or None when its records do not say."""
    name = run.choices.get("experiment") or run.config.get("experiment_name")
    return None if name is None or str(name).startswith("${") else str(name)


def group_by_method(runs: list[Run]) -> dict[str, list[Run]]:
    """{experiment: its runs}, in Table 4's order; every run must name its experiment and agree with the others of it
    on everything but the seed."""
    unnamed = [r.source for r in runs if experiment_of(r) is None]
    if unnamed:
        raise DataError(
            f"{unnamed[0]}: the run does not record its experiment (.hydra/hydra.yaml, or experiment_name in "
            f"a W&B config); --methods needs runs of python -m mfr.fit experiment=NAME"
        )
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(experiment_of(run), []).append(run)
    for name, members in groups.items():
        differ = [k for k in differing_keys(members) if k not in REPLICATE_KEYS]
        if differ:
            raise DataError(
                f"runs of experiment {name} differ in {', '.join(differ)}: they are not one method; "
                f"compare them without --methods"
            )
    order = list(METHODS)
    return dict(sorted(groups.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0])))


def load_published(path: Path = PUBLISHED) -> list[Figure]:
    """The published figures of `path` (YAML: `figures:` a list of {method, benchmark, metric, value, source})."""
    if not path.is_file():
        raise ConfigError(f"--published {path}: no such file (expected YAML with a 'figures' list)")
    data = yaml.safe_load(path.read_text()) or {}
    figures = []
    for i, entry in enumerate(data.get("figures") or []):
        missing = [k for k in FIGURE_KEYS if not isinstance(entry, dict) or entry.get(k) in (None, "")]
        if missing:
            raise DataError(
                f"{path}: figures[{i}] lacks {', '.join(missing)} (each figure needs {', '.join(FIGURE_KEYS)})"
            )
        try:
            value = float(entry["value"])
        except (TypeError, ValueError):
            raise DataError(f"{path}: figures[{i}].value={entry['value']!r} is not a number") from None
        figures.append(
            Figure(str(entry["method"]), str(entry["benchmark"]), str(entry["metric"]), value, str(entry["source"]))
        )
    return figures


def methods_table(runs: list[Run], metrics: list[str], figures: list[Figure] | None, out: Path) -> Path:
    """Write `table4.md` and `table4.csv` into `out`: rows = methods, columns = our metrics, then the published
    figures asked for (each cell a reference to its source). Returns the Markdown file."""
    groups = group_by_method(runs)
    figures = figures or []
    columns = list(dict.fromkeys(f.column for f in figures))
    sources = list(dict.fromkeys(f.source for f in figures))
    published = {(f.method, f.column): f for f in figures}
    header = ["method", "experiment", "runs", *metrics, *columns]
    rows = []
    for name, members in groups.items():
        ours = [mean_std(*Cell((), members).stats(m)) for m in metrics]
        figures_here = [published.get((name, c)) for c in columns]
        theirs = [f"{f.value:g} [{sources.index(f.source) + 1}]" if f else "" for f in figures_here]
        rows.append([METHODS.get(name, name), name, str(len(members)), *ours, *theirs])
    unplaced = sorted({f.method for f in figures} - set(groups))

    with atomic_path(out / "table4.csv") as temporary, temporary.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    demo = any("DemoDataModule" in str(r.config.get("data._target_", "")) for r in runs)
    lines = [
        "# Table 4: methods side by side" + (" on the SYNTHETIC demo data (not a benchmark)" if demo else ""),
        "",
        f"Mean ± sample std over each method's runs (seeds); {len(runs)} runs.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *["| " + " | ".join(row) + " |" for row in rows],
    ]
    if figures:
        lines += [
            "",
            "Published figures (on the papers' benchmarks, not comparable to demo data):",
            "",
            *[f"[{i + 1}] {s}" for i, s in enumerate(sources)],
        ]
        if unplaced:
            lines.append(f"(no runs here of {', '.join(unplaced)}, whose published figures are therefore not shown)")
    return write_atomic(out / "table4.md", "\n".join(lines) + "\n")
