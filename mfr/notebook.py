"""What the notebooks in notebooks/ share: which checkpoint to show, its data, where figures go.

A notebook's first cell picks its checkpoint: the path in an environment variable (MFR_CKPT, ...),
else the newest finished run under the logs folder (MFR_LOGS, default <repo>/logs) whose config fits,
else a quick demo run trained on the spot (a minute on a CPU). Figures go to MFR_FIGURES (default
<logs>/notebooks/<notebook>).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hydra
from omegaconf import OmegaConf, open_dict

from mfr.errors import ConfigError
from mfr.runs import newest_checkpoint, run_config, run_of_checkpoint

ROOT = Path(__file__).resolve().parents[1]
# a quick demo run for a notebook with nothing else to show: small faces, a few hundred steps on a CPU
QUICK_DEMO = [
    "data.identities=60",
    "data.target_identities=30",
    "data.val_identities=30",
    "trainer.max_epochs=6",
    "trainer.check_val_every_n_epoch=6",
    "logger=csv",
]


def logs_dir() -> Path:
    return Path(os.environ.get("MFR_LOGS") or ROOT / "logs")


def figures_dir(notebook: str) -> Path:
    path = Path(os.environ.get("MFR_FIGURES") or logs_dir() / "notebooks" / notebook)
    path.mkdir(parents=True, exist_ok=True)
    return path


def pick_checkpoint(env: str = "MFR_CKPT", experiment: str = "dann_refine", where: dict | None = None) -> Path:
    """The checkpoint named by $env; else the newest run under logs_dir() matching `where` ({config key: value});
    else a quick demo run of `experiment`, trained now into <logs>/notebook_demo/<experiment>."""
    if os.environ.get(env):
        path = Path(os.environ[env])
        if not path.is_file():
            raise ConfigError(f"{env}={path}: no such checkpoint file")
        return path
    found = newest_checkpoint(logs_dir(), where)
    return found or train_quick_demo(experiment, logs_dir() / "notebook_demo" / experiment)


def train_quick_demo(experiment: str, run_dir: Path, overrides: list[str] = QUICK_DEMO) -> Path:
    """`python -m mfr.fit experiment=...` with the quick demo overrides into `run_dir`; its last checkpoint."""
    args = [sys.executable, "-m", "mfr.fit", f"experiment={experiment}", *overrides, f"hydra.run.dir={run_dir}"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return run_dir / "checkpoints" / "last.ckpt"


def run_datamodule(ckpt: Path):
    """The DataModule the checkpoint's run trained on (its saved data config), set up, target domain included."""
    cfg = run_config(run_of_checkpoint(ckpt))
    data = OmegaConf.to_container(cfg.data, resolve=True)
    data.update(use_target=True, num_workers=0)
    datamodule = hydra.utils.instantiate(data)
    datamodule.setup("fit")
    return datamodule


def evaluate_checkpoint(ckpt: Path, out: Path) -> dict:
    """`mfr.evaluate` of a checkpoint on the validation sets of its own run; writes results.json and plots/ to `out`."""
    from hydra import compose, initialize_config_dir

    from mfr.eval.run import evaluate

    overrides = [
        f"ckpt_path={Path(ckpt).resolve()}",
        f"paths.root_dir={ROOT}",
        f"paths.output_dir={out}",
        "logger=none",
        "embedding.cache_dir=null",
        "embedding.num_workers=0",
    ]
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose(config_name="eval", overrides=overrides)
    data = OmegaConf.to_container(run_config(run_of_checkpoint(ckpt)).data, resolve=True)
    data["num_workers"] = 0
    with open_dict(cfg):
        cfg.data = data
    return evaluate(cfg)
