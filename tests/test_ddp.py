"""Two CPU processes (gloo) train dann_refine with DDP and must end with the same model."""

from pathlib import Path

import torch

from conftest import TINY
from test_training import run_fit


def test_two_rank_ddp_ranks_agree(tmp_path):
    tiny = [o for o in TINY if not o.startswith("trainer.accelerator")]
    result = run_fit(
        [
            "experiment=dann_refine", "head=adaface", *tiny,
            "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_steps=3",
            f"+callbacks.rank_state._target_=ddp_probe.RankState", f"+callbacks.rank_state.out={tmp_path}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
        extra_path=[str(Path(__file__).parent)],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    # BatchNorm running statistics are per rank on CPU (SyncBatchNorm needs GPUs); all else is shared
    shared = [k for k in rank0 if "running_" not in k and "num_batches_tracked" not in k]
    assert any(k.startswith("discriminator.") for k in shared) and "head.norm_mean" in shared
    for key in shared:
        assert torch.equal(rank0[key], rank1[key]), key
    assert rank0["head.norm_mean"].item() != 20.0  # AdaFace's statistics moved, identically on both ranks
