"""A callback for the DDP test: each rank writes what it ended training with, for comparison."""

import torch
import pytorch_lightning as pl


class RankState(pl.Callback):
    def __init__(self, out: str):
        self.out = out

    def on_train_end(self, trainer, pl_module):
        state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        torch.save(state, f"{self.out}/rank{trainer.global_rank}.pt")
