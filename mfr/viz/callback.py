"""The attention-map panel during training: every validation, logged to W&B and saved as a PNG in the run folder."""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl

from mfr.viz.attention import attention_figure, face_attention_stats
from mfr.viz.figures import save_figure
from mfr.viz.samples import face_samples

log = logging.getLogger(__name__)


class AttentionMapCallback(pl.Callback):
    """After each validation: the refinement layer's attention on `count` faces of each kind (unmasked,
    synthetic masked, real masked) as `<output_dir>/step<N>.png`, and as image `val/attention_maps` for
    every logger that takes images (W&B); and its statistics on `stats_count` faces of each kind as
    `val/attention/<figure>` (see `face_attention_stats`), which the run summary and mfr.compare show.
    Does nothing for a model without refinement. A forward pass of a few faces and one small figure:
    about a second."""

    def __init__(self, output_dir: str, count: int = 4, stats_count: int = 64):
        self.output_dir, self.count, self.stats_count = Path(output_dir), count, stats_count
        self.faces = self.stats_faces = None  # drawn once, so every validation looks at the same faces

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking or not trainer.is_global_zero or not pl_module.embedder.refine:
            return
        if self.faces is None:
            self.faces = face_samples(trainer.datamodule, self.count)
            self.stats_faces = face_samples(trainer.datamodule, self.stats_count)
        for name, value in face_attention_stats(pl_module, self.stats_faces).items():
            pl_module.log(f"val/attention/{name}", value, rank_zero_only=True)
        fig = attention_figure(pl_module, self.faces, title=f"refinement attention, step {trainer.global_step}")
        path = save_figure(fig, self.output_dir / f"step{trainer.global_step:07d}.png")
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):
                logger.log_image(key="val/attention_maps", images=[str(path)], step=trainer.global_step)
