"""Saving matplotlib figures headless: every mfr figure goes through here, so none needs a display."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

from mask_synth.dataset import atomic_path

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # scripts, callbacks, tests; a notebook keeps its inline backend
import matplotlib.pyplot as plt


def save_figure(fig, path: str | Path, close: bool = True) -> Path:
    """Write `fig` as a PNG (parent folders made); `close=False` leaves it for a notebook to show."""
    path = Path(path)
    fig.tight_layout()
    with atomic_path(path) as temporary:
        fig.savefig(temporary, dpi=120, format="png")
    if close:
        plt.close(fig)
    return path
