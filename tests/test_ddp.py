"""Two CPU processes (gloo) train dann_refine with DDP: they must end with the same model, draw their own
target images and augmentations, and share AdaFace's statistics of the global batch."""

from pathlib import Path

import pytest
import torch

from conftest import ROOT, TINY, run_module
from ddp_probe import NORMS
from mfr.data.samplers import TargetDraws


@pytest.mark.slow
def test_two_rank_ddp_ranks_agree_and_draw_their_own_data(tmp_path):
    tiny = [o for o in TINY if not o.startswith("trainer.accelerator")]
    run_module(
        "mfr.fit",
        "experiment=dann_refine",
        "head=adaface",
        *tiny,
        "data.target_batch_size=6",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.max_steps=3",
        "+callbacks.rank_state._target_=ddp_probe.RankState",
        f"+callbacks.rank_state.out={tmp_path}",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        env={"PYTHONPATH": f"{ROOT}:{Path(__file__).parent}"},
        check=True,
    )
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    state0, state1 = rank0["state"], rank1["state"]
    assert state0.keys() == state1.keys()
    # BatchNorm running statistics are per rank on CPU (SyncBatchNorm needs GPUs); all else is shared
    shared = [k for k in state0 if "running_" not in k and "num_batches_tracked" not in k]
    assert any(k.startswith("discriminator.") for k in shared) and "head.norm_mean" in shared
    for key in shared:
        assert torch.equal(state0[key], state1[key]), key
    assert state0["head.norm_mean"].item() != 20.0  # AdaFace's statistics moved, identically on both ranks

    # target images: 3 source steps per rank (48 faces / 2 ranks / batch 8), so 3 batches of 6 each, drawn
    # with replacement from the 24 target images for both ranks at once and dealt out
    draws0, draws1 = rank0["target_draws"], rank1["target_draws"]
    assert len(draws0) == len(draws1) == 3 * 6 and draws0 != draws1
    assert sorted(draws0 + draws1) == sorted(TargetDraws(size=24, count=36, seed=42))
    # augmentations: each rank its own flips, drawn in the main process or in a loader worker
    for workers in (0, 1):
        assert rank0["flips"][workers] != rank1["flips"][workers], workers
    # AdaFace: the statistics of the global batch, not the average of each rank's
    norms = torch.cat(NORMS)
    for rank in (rank0, rank1):
        assert rank["adaface"] == pytest.approx((norms.mean().item(), norms.std().item()), rel=1e-6)
