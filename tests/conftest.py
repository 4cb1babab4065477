"""Shared fixtures: tiny Hydra configs that train in seconds, and the optional ../shared data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SHARED = ROOT.parent / "shared"

# A run small enough for a unit test: 32px faces, a 4x4 map from resnet10t, a few steps.
TINY = [
    "data.image_size=32",
    "data.identities=12",
    "data.images_per_identity=4",
    "data.target_identities=6",
    "data.target_images_per_identity=4",
    "data.val_identities=20",
    "data.val_images_per_identity=2",
    "data.val_pairs=40",
    "data.batch_size=8",
    "data.target_batch_size=4",
    "data.num_workers=0",
    "data.generate_workers=1",
    "model.backbone.name=resnet10t",
    "model.backbone.output_stride=8",
    "model.embedding_size=32",
    "model.backbone.channels=32",
    "trainer.max_epochs=1",
    "trainer.max_steps=2",
    "trainer.accelerator=cpu",
    "~callbacks.progress_bar",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=none",
]


def error_line(stderr: str) -> str:
    """The one line a command printed for bad input (mfr.cli: `error: ...`), checked: no traceback, one such line,
    and any lines after it indented detail (a dataset's expected layout). Lines before it are the command's own."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert "Traceback" not in stderr and len(errors) == 1, stderr[-2000:]
    assert all(line.startswith(" ") for line in lines[errors[0] + 1 :]), stderr[-2000:]
    return lines[errors[0]]


def run_module(
    module: str, *args: str, cwd: Path, env: dict | None = None, timeout: int = 600, check: bool = False
) -> subprocess.CompletedProcess:
    """`python -m MODULE ARGS` in a fresh process, as a user types it: the project on PYTHONPATH, `cwd` as HOME,
    W&B offline; `env` adds to (or overrides) that environment. `check`: fail the test if the command fails."""
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            "PYTHONPATH": str(ROOT),
            "PATH": "/usr/bin:/bin",
            "HOME": str(cwd),
            "WANDB_MODE": "offline",
            "WANDB_SILENT": "true",
            **(env or {}),
        },
    )
    assert not check or result.returncode == 0, f"{module} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def compose_config(tmp_path: Path, overrides: list[str]):
    """The training config as `python -m mfr.fit` would build it, with outputs under tmp_path."""
    paths = [f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path / 'out'}"]
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name="train", overrides=paths + overrides)


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the project root; tests using it skip on a fresh clone."""
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip("../shared/data is absent (it only exists on the developers' machines)")
    return data
