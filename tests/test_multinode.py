"""Launches with several processes on several nodes: every rank names the same run folder, atomic
writes never share a temporary file, and what cannot work (DDP inside a sweep) is refused in one line."""

import os

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from conftest import CONFIGS, TINY, run_module
from mask_synth.dataset import write_atomic
from mask_synth.runner import check_config
from mfr.compare import _write_csv
from mfr.data.readers.rmfd import write_pairs_file
from mfr.eval.embedding import EmbeddingCache, Embeddings
from mfr.train.launch import check_run_folder


def test_mfr_run_name_names_the_run_folder_the_same_on_every_rank(monkeypatch):
    monkeypatch.setenv("MFR_RUN_NAME", "job-4242")
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="train", return_hydra_config=True)
    assert cfg.hydra.run.dir == "./logs/train/runs/job-4242"


def test_a_multi_process_launch_without_a_shared_run_name_is_refused_before_any_folder(tmp_path):
    result = run_module("mfr.fit", "experiment=dann_refine", *TINY, cwd=tmp_path, env={"WORLD_SIZE": "16"})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: 16 processes were launched") and "MFR_RUN_NAME" in lines[-1], result.stderr[
        -2000:
    ]
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    "argv, env",
    [
        ([], {"WORLD_SIZE": "1"}),  # one process
        ([], {"SLURM_NTASKS": "8", "MFR_RUN_NAME": "job-1"}),  # a name shared by all ranks
        (["hydra.run.dir=/shared/run"], {"WORLD_SIZE": "8"}),  # a folder given on every rank's command line
    ],
)
def test_launches_with_one_run_folder_pass(argv, env):
    check_run_folder(argv, env)


def test_a_sweep_with_ddp_is_refused_in_one_line(tmp_path):
    result = run_module(
        "mfr.fit",
        "-m",
        "experiment=dann_refine",
        "seed=1,2",
        *TINY,
        "trainer=ddp",
        "trainer.devices=2",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: a sweep (-m) cannot train on several processes"), result.stderr[-2000:]
    assert "Traceback" not in result.stderr


WRITERS = {
    "run outputs (metrics.json, results.json, pack files)": lambda folder: write_atomic(folder / "metrics.json", "{}"),
    "mask_synth output": lambda folder: write_atomic(folder / "face.png", b"png"),
    "comparison tables": lambda folder: _write_csv(folder / "comparison.csv", ["run"], [["a"]]),
    "mask_synth options": lambda folder: check_config(folder, "options", {"types": "mix"}),
    "RMFD pairs": lambda folder: write_pairs_file(folder / "pairs.tsv", {}, [("a.jpg", "b.jpg")], [1], [0]),
    "embedding cache": lambda folder: EmbeddingCache(folder).save(
        folder / "set.npz", Embeddings(np.zeros((1, 2), np.float32))
    ),
}


@pytest.mark.parametrize("writer", WRITERS.values(), ids=WRITERS)
def test_writers_with_the_same_pid_never_share_a_temporary_file(tmp_path, monkeypatch, writer):
    """Two nodes (or containers) on one shared filesystem can run writers with the same pid."""
    monkeypatch.setattr(os, "getpid", lambda: 4242)
    temporaries, replace = [], os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (temporaries.append(os.path.basename(src)), replace(src, dst)))
    for node in ("node1", "node2"):
        (tmp_path / node).mkdir()
        writer(tmp_path / node)
    assert len(temporaries) == 2 and temporaries[0] != temporaries[1], temporaries


def test_every_file_is_renamed_into_place_by_the_one_atomic_helper():
    """mask_synth.dataset.atomic_path is the only code that renames a finished file into place: a writer of its
    own would be a second helper to keep right (unique temporary names, cleanup on failure)."""
    root = CONFIGS.parent
    renaming = [
        str(path.relative_to(root))
        for folder in ("mfr", "mask_synth")
        for path in (root / folder).rglob("*.py")
        if "os.replace(" in path.read_text() or "os.rename(" in path.read_text()
    ]
    assert renaming == ["mask_synth/dataset.py"]
