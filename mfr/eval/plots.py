"""PNG plots of one set's results: ROC curves (one per protocol) and CMC curves, drawn headless."""

from __future__ import annotations

from pathlib import Path

from mfr.viz.figures import plt, save_figure


def plot_roc(result: dict, path: Path) -> Path | None:
    """TAR against FAR on a log axis, one curve per protocol, AUC and EER in the legend."""
    curves = {pid: m for pid, m in result["protocols"].items() if "roc" in m}
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.5))
    floor = 1.0
    for m in curves.values():
        far, tar = m["roc"]["far"], m["roc"]["tar"]
        positive = [f for f in far if f > 0]
        floor = min(floor, min(positive) if positive else 1.0)
        ax.step(far, tar, where="post", label=f"{m['title']} (AUC {m['auc']:.3f}, EER {m['eer']:.3f})")
    ax.set_xscale("log")
    ax.set_xlim(max(floor / 2, 1e-5), 1.0)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("FAR (false accept rate)")
    ax.set_ylabel("TAR (true accept rate)")
    ax.set_title(f"{result['name']}: ROC")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return save_figure(fig, path)


def plot_cmc(result: dict, path: Path) -> Path | None:
    """Identification rate against rank, one curve per protocol."""
    curves = {pid: m for pid, m in result["identification"].items() if m.get("cmc")}
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for m in curves.values():
        ranks = range(1, len(m["cmc"]) + 1)
        ax.plot(ranks, m["cmc"], marker="o", markersize=3, label=f"{m['title']} (rank-1 {m['rank1']:.3f})")
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate")
    ax.set_ylim(0, 1.01)
    ax.set_title(f"{result['name']}: CMC")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return save_figure(fig, path)


def write_plots(result: dict, directory: str | Path) -> list[Path]:
    """<directory>/<set>_roc.png and <set>_cmc.png, for whatever the result holds."""
    directory = Path(directory)
    made = [
        plot_roc(result, directory / f"{result['name']}_roc.png"),
        plot_cmc(result, directory / f"{result['name']}_cmc.png"),
    ]
    return [p for p in made if p is not None]
