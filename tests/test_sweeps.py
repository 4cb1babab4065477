"""The sweeps of experiments/ compose, run with one command, label their runs, and mfr.compare reads them."""

import pytest
import yaml
from omegaconf import OmegaConf

from conftest import ROOT, TINY, run_module
from mfr.compare import collect, compare
from mfr.sweep import sweep_labels
from mfr.wandb_runs import find_offline_runs, load_offline_run

SWEEPS = sorted(p.stem for p in (ROOT / "experiments").glob("*.yaml") if p.stem != "base")


@pytest.mark.parametrize(
    "sweep, runs", [("ablation", 12), ("ablation_demo", 4), ("heads", 12), ("table4", 21), ("table4_demo", 7)]
)
def test_sweep_definitions_expand_to_their_runs(tmp_path, sweep, runs):
    assert sweep in SWEEPS
    result = run_module(
        "mfr.fit", "-cd", str(ROOT / "experiments"), "-cn", sweep, "--cfg", "hydra", cwd=tmp_path, check=True
    )
    params = yaml.safe_load(result.stdout)["hydra"]["sweeper"]["params"]
    count = 1
    for key, values in params.items():
        values = str(values).split(",")
        count *= len(values)
        if key in ("head", "experiment"):  # every option swept over is a config of its group
            assert all((ROOT / "configs" / key / f"{v}.yaml").is_file() for v in values)
    assert count == runs


@pytest.mark.slow
def test_demo_ablation_runs_four_labelled_cells_with_one_command(tmp_path):
    overrides = [o for o in TINY if not o.startswith("logger=")] + ["trainer.log_every_n_steps=1"]
    # the command as a user types it, from a fresh directory: nothing names the output folders
    run_module(
        "mfr.fit", "-m", "-cd", str(ROOT / "experiments"), "-cn", "ablation_demo", *overrides, cwd=tmp_path, check=True
    )
    (sweep_dir,) = (tmp_path / "logs" / "sweeps" / "ablation_demo").iterdir()
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    assert len(jobs) == 4

    labels = {tuple(sweep_labels(OmegaConf.load(j / ".hydra" / "config.yaml")).items()) for j in jobs}
    assert labels == {(("refine", r), ("da", d), ("seed", "1")) for r in ("on", "off") for d in ("on", "off")}

    # one W&B run per job (not one run all jobs log into), grouped by the sweep, tagged with its flags
    wandb_runs = [load_offline_run(d) for j in jobs for d in find_offline_runs(j)]
    assert len(wandb_runs) == 4
    for run in wandb_runs:
        assert run.config["logger.wandb.group"] == "ablation_demo"
        flags = f"refine={'on' if run.config['model.refine.enabled'] else 'off'}"
        assert flags in run.config["logger.wandb.tags"] and "seed=1" in run.config["logger.wandb.tags"]
        assert run.metrics["val/demo_real/acc"] >= 0

    runs, notes = collect([sweep_dir])
    assert len(runs) == 4 and not notes  # the W&B folders inside the run folders are not counted twice
    report = compare(runs, tmp_path / "cmp")
    text = report.read_text()
    assert "Config keys that differ: model.da.enabled, model.refine.enabled\n" in text
    assert (tmp_path / "cmp" / "cells.png").is_file() and (tmp_path / "cmp" / "curves.png").is_file()


@pytest.mark.slow
def test_table4_demo_runs_with_one_command_and_compares_as_rows_of_methods(tmp_path):
    # three of its seven methods (each experiment also trains alone in test_training): the two that are
    # not mfr's, srt with its two stages, and the baseline
    overrides = [o for o in TINY if not o.startswith("logger=")] + [
        "logger=csv",
        "experiment=srt,baseline_arcface,focusface",
    ]
    run_module(
        "mfr.fit", "-m", "-cd", str(ROOT / "experiments"), "-cn", "table4_demo", *overrides, cwd=tmp_path, check=True
    )
    (sweep_dir,) = (tmp_path / "logs" / "sweeps" / "table4_demo").iterdir()
    assert (next(sweep_dir.glob("*/teacher/teacher.ckpt"))).is_file()  # the srt job trained its face model first

    run_module("mfr.compare", str(sweep_dir), "--methods", cwd=tmp_path, check=True)
    table = (sweep_dir / "table4.md").read_text().splitlines()
    rows = [line.split(" | ")[1] for line in table if line.startswith("| ") and "---" not in line][1:]
    assert rows == ["baseline_arcface", "focusface", "srt"]  # Table 4's order, whatever order the jobs ran in
