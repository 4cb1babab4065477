"""A callback for the DDP test: each rank writes what it ended training with and what it drew, for comparison."""

import numpy as np
import pytorch_lightning as pl
import torch

from mfr.data.transforms import build_augment

# a global batch of AdaFace feature norms, split unevenly over the two ranks
NORMS = (torch.tensor([2.0, 3.0]), torch.tensor([10.0, 12.0, 20.0]))


class FlipProbe(torch.utils.data.Dataset):
    """A left-to-right ramp through a random flip, 16 times: each sample says whether it was flipped."""

    def __init__(self):
        self.augment = build_augment(8, flip=0.5)
        self.ramp = np.tile(np.arange(8, dtype=np.uint8)[None, :, None], (8, 1, 3))

    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int) -> int:
        return int(self.augment(image=self.ramp)["image"][0, 0, 0] > 0)


def drawn_flips(datamodule, workers: int) -> list[int]:
    """The flips this rank's loaders draw, in the main process (0 workers) or in a worker."""
    return [int(f) for batch in datamodule._loader(FlipProbe(), 16, num_workers=workers) for f in batch]


class RankState(pl.Callback):
    def __init__(self, out: str):
        self.out = out

    def on_train_end(self, trainer, pl_module):
        report = {
            "state": {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()},
            "target_draws": list(trainer.train_dataloader["target"].sampler),
            "flips": {workers: drawn_flips(trainer.datamodule, workers) for workers in (0, 1)},
        }
        head = pl_module.head  # last, as it moves AdaFace's statistics: to those of NORMS, all ranks together
        head.momentum = 1.0
        head._update_norm_stats(NORMS[trainer.global_rank])
        report["adaface"] = (head.norm_mean.item(), head.norm_std.item())
        torch.save(report, f"{self.out}/rank{trainer.global_rank}.pt")
