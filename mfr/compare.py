"""`python -m mfr.compare PATH... [--out DIR]`: runs side by side, as tables (Markdown, CSV) and plots (PNG).

Runs come from run folders of `python -m mfr.fit` (a sweep folder, logs/, one run), from W&B run
folders on disk (offline runs; no account needed), or from the W&B API (`--wandb-project
ENTITY/PROJECT`). The config keys that differ between the runs are found, not declared; runs that
differ only in `seed` form one cell, reported as mean ± sample std over its runs.

Writes to --out (default: the first PATH):
  comparison.md         the cells table, the runs table, the plots
  comparison.csv        one row per run: the differing keys, then every final metric
  comparison_cells.csv  one row per cell: the differing keys but seed, runs, <metric>_mean, <metric>_std
  cells.png             the chosen metrics (--metric) per cell: mean bars, std error bars, each run a dot
  curves.png            learning curves (train/loss and the chosen metrics) of every run, coloured by cell
With --methods instead (mfr/paper_table.py): table4.md and table4.csv, one row per experiment, as the paper's
Table 4; --published adds the papers' own figures (experiments/published.yaml) beside ours.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from mask_synth.dataset import atomic_path, write_atomic
from mfr.cli import ArgumentParser, one_line_errors
from mfr.errors import ConfigError
from mfr.runs import Run, find_runs, load_run, unfinished_runs
from mfr.sweep import show

# bookkeeping that differs between runs without being an experimental choice
IGNORED = re.compile(
    r"^(paths|logger|hydra|sweep)\.|^(tags|ckpt_path|task_name)$|(^|\.)(dirpath|output_dir|save_dir|default_root_dir|cache_dir)$"
)
REPLICATE_KEYS = ("seed",)  # runs differing only in these are repeats of one cell
CURVE_KEYS = ("train/loss",)  # drawn besides the chosen metrics


@dataclass
class Cell:
    values: tuple  # the cell's value of each cell key
    runs: list[Run]

    def stats(self, metric: str) -> tuple[float, float]:
        """(mean, sample std) of a metric over the cell's runs; std is nan for a single run."""
        values = [r.metrics[metric] for r in self.runs if metric in r.metrics]
        if not values:
            return math.nan, math.nan
        return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else math.nan


# -- collecting runs -------------------------------------------------------------------------------
def collect(paths: list[Path]) -> tuple[list[Run], list[str]]:
    """Every run at or under the paths, and notes on what was skipped. Run folders of mfr.fit are read
    from their own files; a W&B run folder only when it is not inside one (else it is the same run)."""
    from mfr.wandb_runs import find_offline_runs, load_offline_run

    runs, notes = [], []
    for path in paths:
        if not path.exists():
            raise ConfigError(f"{path}: no such file or directory")
        base = path.parent if path.is_dir() else path
        local, unfinished = find_runs(path), unfinished_runs(path)
        runs += [load_run(d, str(d.relative_to(base))) for d in local]
        offline = [d for d in find_offline_runs(path) if not any(d.is_relative_to(r) for r in local + unfinished)]
        runs += [load_offline_run(d, str(d.relative_to(base))) for d in offline]
        notes += [f"{d}: skipped, no metrics.json (the run failed or is still running)" for d in unfinished]
        if not local and not offline:
            raise ConfigError(
                f"{path}: holds no runs (looked for metrics.json of python -m mfr.fit runs and for W&B run "
                f"folders with a .wandb file)" + (f"; {len(notes)} unfinished runs" if notes else "")
            )
    return runs, notes


# -- what differs ------------------------------------------------------------------------------------
def differing_keys(runs: list[Run]) -> list[str]:
    """Config keys whose value is not the same in every run, bookkeeping left out. A key that copies another
    (data.seed holds seed's values once resolved, as in W&B's configs) is one column with it: the sweep's flag,
    else the shorter. Keys that merely happen to agree in every run (model.refine.enabled and model.da.enabled
    when only the diagonal cells ran) stay two columns."""
    keys = sorted({k for r in runs for k in r.config if not IGNORED.search(k)})
    flagged = {v for r in runs for k, v in r.config.items() if k.startswith("sweep.flags.")}
    rank = lambda key: (key not in flagged, len(key))  # noqa: E731  a sweep's own flags first, then the shortest
    alias = lambda a, b: a.endswith("." + b) or b.endswith("." + a)  # noqa: E731  data.seed and seed
    columns: list[tuple[tuple, str]] = []
    for key in keys:
        values = tuple(repr(r.config.get(key)) for r in runs)
        if len(set(values)) == 1:
            continue
        same = next((i for i, (v, k) in enumerate(columns) if v == values and alias(k, key)), None)
        if same is None:
            columns.append((values, key))
        elif rank(key) < rank(columns[same][1]):
            columns[same] = (values, key)
    return sorted((key for _, key in columns), key=keys.index)


def group_cells(runs: list[Run], cell_keys: list[str]) -> list[Cell]:
    """Runs grouped by their values of the cell keys, in the order the cells first appear."""
    cells: dict[tuple, Cell] = {}
    for run in runs:
        values = tuple(run.config.get(k) for k in cell_keys)
        cells.setdefault(values, Cell(values, [])).runs.append(run)
    return list(cells.values())


def all_metrics(runs: list[Run], first: list[str]) -> list[str]:
    names = sorted({m for r in runs for m in r.metrics})
    return [m for m in first if m in names] + [m for m in names if m not in first]


# The refinement attention's health (mfr/models/attention_stats.py): the tables' columns right after the plotted
# metrics, so a collapsed attention is seen beside the accuracies it produced.
ATTENTION_METRICS = [
    f"val/attention/{k}"
    for k in ("entropy", "input_dependence", "sink_share", "mask_share_masked", "mask_share_unmasked", "mask_area")
]


def default_metrics(runs: list[Run]) -> list[str]:
    """Each validation set's headline accuracy (val/<set>/acc), the run's monitor first when it names one."""
    names = sorted({m for r in runs for m in r.metrics})
    accs = [m for m in names if m.endswith("/acc") and m.count("/") == 2] or names[:1]
    monitor = runs[0].config.get("data.monitor")
    return sorted(accs, key=lambda m: m != monitor)


def label(keys: list[str], values: tuple, runs: list[Run]) -> str:
    """A cell's name for plots: the sweep's short flag names where it has them (refine=on da=off)."""
    short = {
        key: name.removeprefix("sweep.flags.")
        for name, key in runs[0].config.items()
        if name.startswith("sweep.flags.")
    }
    return (
        "\n".join(f"{short.get(k, '.'.join(k.split('.')[-2:]))}={show(v)}" for k, v in zip(keys, values)) or "all runs"
    )


# -- tables -----------------------------------------------------------------------------------------------
def _num(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.4f}"


def _mean_std(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with atomic_path(path) as temporary, temporary.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def write_tables(runs, keys, cell_keys, cells, metrics, out: Path, notes: list[str], plots: list[Path]) -> Path:
    run_rows = [
        [r.name, *[show(r.config.get(k)) for k in keys], *[_num(r.metrics.get(m)) for m in metrics]] for r in runs
    ]
    _write_csv(out / "comparison.csv", ["run", *keys, *metrics], run_rows)
    stats = [[c.stats(m) for m in metrics] for c in cells]
    _write_csv(
        out / "comparison_cells.csv",
        [*cell_keys, "runs", *[f"{m}_{s}" for m in metrics for s in ("mean", "std")]],
        [[*map(show, c.values), len(c.runs), *[_num(x) for pair in row for x in pair]] for c, row in zip(cells, stats)],
    )
    replicate = [k for k in keys if k in REPLICATE_KEYS]
    text = [
        f"# Comparison of {len(runs)} runs",
        "",
        f"Config keys that differ: {', '.join(keys) or 'none'}"
        + (f" ({', '.join(replicate)}: repeats of a cell)" if replicate else ""),
        "",
        "## Cells: mean ± sample std over the runs of each cell (runs that differ only in seed)",
        "",
        _markdown(
            [*cell_keys, "runs", *metrics],
            [[*map(show, c.values), len(c.runs), *[_mean_std(*s) for s in row]] for c, row in zip(cells, stats)],
        ),
        "",
        "## Runs",
        "",
        _markdown(["run", *keys, *metrics], run_rows),
        "",
        *[f"![{p.stem}]({p.name})" for p in plots],
    ]
    if notes:
        text += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return write_atomic(out / "comparison.md", "\n".join(text) + "\n")


# -- plots ---------------------------------------------------------------------------------------------
def plot_cells(cells: list[Cell], labels: list[str], metrics: list[str], path: Path) -> Path:
    """Grouped bars: one group per cell, one bar per metric (mean, std error bar), each run a dot."""
    import matplotlib.pyplot as plt

    from mfr.viz.figures import save_figure

    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(cells) * max(1, len(metrics) / 2)), 4.5))
    for j, metric in enumerate(metrics):
        x = [i + (j - (len(metrics) - 1) / 2) * width for i in range(len(cells))]
        means, stds = zip(*(c.stats(metric) for c in cells))
        ax.bar(x, means, width, yerr=[0 if math.isnan(s) else s for s in stds], capsize=4, label=metric, alpha=0.8)
        for xi, cell in zip(x, cells):
            values = [r.metrics[metric] for r in cell.runs if metric in r.metrics]
            ax.scatter([xi] * len(values), values, color="black", s=12, zorder=3)
    ax.set_xticks(range(len(cells)), labels, fontsize=8)
    ax.set_ylabel("final value")
    ax.set_title("per cell: mean ± std over runs (dots: runs)")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return save_figure(fig, path)


def plot_curves(
    runs: list[Run], run_labels: list[str], cell_of: list[int], metrics: list[str], path: Path
) -> Path | None:
    """One panel per curve (train/loss, the chosen metrics), one line per run, coloured by its cell."""
    import matplotlib.pyplot as plt

    from mfr.viz.figures import save_figure

    keys = [k for k in (*CURVE_KEYS, *metrics) if any(r.curves.get(k) for r in runs)]
    if not keys:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, key in zip(axes[0], keys):
        seen = set()
        for run, run_label, cell in zip(runs, run_labels, cell_of):
            points = run.curves.get(key)
            if points:
                steps, values = zip(*points)
                ax.plot(
                    steps,
                    values,
                    marker="o" if len(points) < 10 else None,
                    markersize=3,
                    color=colours(cell % 10),
                    label=None if cell in seen else run_label.replace("\n", " "),
                )
                seen.add(cell)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, path)


# -- entry point -----------------------------------------------------------------------------------------
def chosen_metrics(runs: list[Run], metrics: list[str] | None) -> list[str]:
    """The metrics asked for (default: each set's headline accuracy), each checked to be in some run."""
    if not runs:
        raise ConfigError("no runs to compare")
    chosen = metrics or default_metrics(runs)
    missing = [m for m in chosen if not any(m in r.metrics for r in runs)]
    if missing:
        raise ConfigError(f"--metric {missing[0]}: no run has it; metrics: {', '.join(all_metrics(runs, []))}")
    return chosen


def compare(runs: list[Run], out: Path, metrics: list[str] | None = None, notes: list[str] = ()) -> Path:
    """Write the tables and plots for these runs to `out`; returns the Markdown file."""
    chosen = chosen_metrics(runs, metrics)
    out.mkdir(parents=True, exist_ok=True)
    keys = differing_keys(runs)
    cell_keys = [k for k in keys if k not in REPLICATE_KEYS]
    cells = group_cells(runs, cell_keys)
    labels = [label(cell_keys, c.values, c.runs) for c in cells]
    cell_of = [next(i for i, c in enumerate(cells) if r in c.runs) for r in runs]
    plots = [plot_cells(cells, labels, chosen, out / "cells.png")]
    plots.append(plot_curves(runs, [labels[i] for i in cell_of], cell_of, chosen, out / "curves.png"))
    return write_tables(
        runs,
        keys,
        cell_keys,
        cells,
        all_metrics(runs, chosen + ATTENTION_METRICS),
        out,
        list(notes),
        [p for p in plots if p],
    )


@one_line_errors()
def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(prog="python -m mfr.compare", description=__doc__.split("\n")[0].split(": ", 1)[1])
    parser.add_argument("paths", nargs="*", type=Path, help="run folders, sweep folders, logs/, W&B run folders")
    parser.add_argument("--out", type=Path, help="where to write the tables and plots (default: the first PATH)")
    parser.add_argument(
        "--metric", action="append", help="metric for the plots, first = headline (repeatable; default: val/<set>/acc)"
    )
    parser.add_argument(
        "--wandb-project", help="also read the runs of ENTITY/PROJECT from the W&B API (needs wandb login)"
    )
    parser.add_argument("--wandb-group", help="with --wandb-project: only this group (a sweep's name)")
    parser.add_argument(
        "--methods",
        action="store_true",
        help="lay the runs out as the paper's Table 4 (rows = methods, columns = metrics): table4.md/.csv",
    )
    parser.add_argument(
        "--published",
        nargs="?",
        const="",
        metavar="FILE",
        help="with --methods: the papers' published figures beside ours (default experiments/published.yaml)",
    )
    args = parser.parse_args(argv)
    if not args.paths and not args.wandb_project:
        parser.error("give at least one PATH or --wandb-project")
    if args.published is not None and not args.methods:
        parser.error("--published goes with --methods")
    if not args.out and not args.paths:
        parser.error("--out is needed with --wandb-project alone")
    runs, notes = collect(args.paths)
    if args.wandb_project:
        from mfr.wandb_runs import load_online_runs

        runs += load_online_runs(args.wandb_project, args.wandb_group)
    out = args.out or (args.paths[0] if args.paths[0].is_dir() else args.paths[0].parent)
    if args.methods:
        from mfr.paper_table import PUBLISHED, load_published, methods_table

        out.mkdir(parents=True, exist_ok=True)
        figures = (
            None if args.published is None else load_published(Path(args.published) if args.published else PUBLISHED)
        )
        report = methods_table(runs, chosen_metrics(runs, args.metric), figures, out)
    else:
        report = compare(runs, out, args.metric, notes)
    print(f"mfr.compare: {len(runs)} runs -> {report}\n\n{report.read_text()}", flush=True)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


if __name__ == "__main__":
    main()
