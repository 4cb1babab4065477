"""Evaluation during training: the validation loop embeds each VerificationSet, `evaluate_set` scores it.

Logs `val/<set>/<metric>` for every headline figure of `scalar_metrics` (`val/<set>/acc` is the
set's 10-fold accuracy over all its pairs, which the checkpoint monitor and the demo read;
`val/<set>/umr_mp/acc`, `val/<set>/mr_mp/rank1`, ... for the protocols), and with `output_dir`
writes each validation's full results as JSON. MR-MP's masked references are embedded here with
the module itself (every rank does the same small job, so no gathering is needed), as masked faces.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from mask_synth.dataset import write_atomic
from mfr.eval.checkpoint import ModuleEmbedder
from mfr.eval.embedding import compute_embeddings
from mfr.eval.engine import EvalOptions, evaluate_set, scalar_metrics

log = logging.getLogger(__name__)


class VerificationCallback(pl.Callback):
    """Runs the evaluation engine (`options`, default: everything) on every `VerificationSet` after each validation.

    `output_dir`: where to write each validation's full results as JSON (None: nowhere).
    """

    def __init__(self, options: EvalOptions | None = None, output_dir: str | None = None):
        self.options = options or EvalOptions()
        self.output_dir = output_dir
        self._chunks: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self.validated_at_step: int | None = None  # lets a run tell whether its last metrics are current

    def on_validation_epoch_start(self, trainer, pl_module):
        self._chunks = {}

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._chunks.setdefault(dataloader_idx, []).append((outputs["index"], outputs["embedding"]))

    def gathered_embeddings(self, pl_module, idx: int, num_images: int) -> np.ndarray:
        index = torch.cat([c[0] for c in self._chunks[idx]])
        emb = torch.cat([c[1] for c in self._chunks[idx]])
        if pl_module.trainer.world_size > 1:  # every rank saw a shard; put the whole set together
            index = pl_module.all_gather(index).flatten(0, 1)
            emb = pl_module.all_gather(emb).flatten(0, 1)
        table = np.full((num_images, emb.shape[1]), np.nan, np.float32)
        table[index.cpu().numpy()] = emb.float().cpu().numpy()
        return table

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        embedder = ModuleEmbedder(pl_module, bf16="bf16" in str(trainer.precision))
        batch_size = trainer.datamodule.val_batch_size

        def embed_extra(images, name):  # MR-MP's references, every one wearing a mask drawn on the fly
            return compute_embeddings(
                images, embedder, batch_size, num_workers=0, desc=name, masked=np.ones(len(images), bool)
            )

        results, summary = {}, []
        for idx, vset in enumerate(trainer.datamodule.val_sets):
            if idx not in self._chunks:
                continue
            result = evaluate_set(
                vset, self.gathered_embeddings(pl_module, idx, len(vset.images)), self.options, embed_extra
            )
            for name, value in scalar_metrics(result).items():
                # every rank computed the same value; sync_dist only confirms it
                pl_module.log(f"val/{vset.name}/{name}", value, prog_bar=name == "acc", sync_dist=True)
            results[vset.name] = result
            head = result["protocols"].get("all", {})
            if head.get("acc") is not None:
                summary.append(f"{vset.name} acc {head['acc']:.4f}±{head['acc_std']:.4f}")
        self._chunks = {}
        self.validated_at_step = trainer.global_step
        if trainer.is_global_zero and results:
            log.info("epoch %d step %d: %s", trainer.current_epoch, trainer.global_step, "; ".join(summary))
            if self.output_dir:
                payload = {"epoch": trainer.current_epoch, "global_step": trainer.global_step, "sets": results}
                write_atomic(
                    Path(self.output_dir) / f"val_step{trainer.global_step:07d}.json", json.dumps(payload, indent=1)
                )
