"""An offline W&B run folder (only a .wandb log on disk) reads back as the run wandb recorded."""

import pytest

from mfr.errors import DataError
from mfr.wandb_runs import find_offline_runs, load_offline_run


@pytest.mark.slow
def test_offline_run_reads_back_config_final_metrics_and_curves(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("HOME", str(tmp_path))
    run = wandb.init(
        project="mfr",
        dir=str(tmp_path),
        group="ablation_demo",
        tags=["refine=on"],
        config={"model": {"refine": {"enabled": True}}, "seed": 1},
    )
    for step in range(3):
        run.log({"train/loss": 3.0 - step, "trainer/global_step": step})
    run.log({"val/demo_real/acc": 0.75, "trainer/global_step": 3})
    run.summary["val/demo_real/acc"] = 0.8  # the final value, as Lightning's last log leaves it
    run.finish()

    (folder,) = find_offline_runs(tmp_path)
    loaded = load_offline_run(folder)
    assert loaded.name == run.id
    assert loaded.config["model.refine.enabled"] is True and loaded.config["seed"] == 1
    assert loaded.metrics == {"val/demo_real/acc": 0.8}  # train/ values are curves, not final metrics
    assert loaded.curves["train/loss"] == [(0, 3.0), (1, 2.0), (2, 1.0)]
    assert loaded.curves["val/demo_real/acc"] == [(3, 0.75)]


def test_a_file_that_is_not_a_wandb_log_is_named(tmp_path):
    (tmp_path / "run-x.wandb").write_bytes(b"not a log")
    with pytest.raises(DataError, match=r"run-x.wandb: not a W&B transaction log"):
        load_offline_run(tmp_path)
