"""Loader settings that matter once several training processes share a node: workers per process, one
OpenCV thread per worker, and the target draws tied to the source epoch (the DDP test checks the ranks)."""

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from mfr.data.datamodule import FaceDataModule, resolve_workers
from mfr.data.samplers import CappedIdentities, TargetDraws
from mfr.data.sets import MaskLabeledFaces, PairedFaces


@pytest.fixture
def sixteen_cores(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)


def test_auto_workers_share_the_nodes_cores_among_its_processes(sixteen_cores, monkeypatch):
    assert resolve_workers("auto") == 12  # 15 free cores, capped
    assert resolve_workers("auto", processes_per_node=2) == 7
    assert resolve_workers("auto", processes_per_node=8) == 1
    assert resolve_workers(3, processes_per_node=8) == 3  # a number is taken as it is
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "6")  # SLURM gave each process its own cores already
    assert resolve_workers("auto", processes_per_node=8) == 5


def test_the_datamodule_resolves_auto_workers_for_the_trainers_processes(sixteen_cores):
    dm = FaceDataModule(num_workers="auto")
    assert dm.num_workers == 12  # no trainer yet: one process
    dm.trainer = SimpleNamespace(num_devices=4, global_rank=0, world_size=4)
    assert dm.num_workers == 3


class ThreadCount(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> int:
        return cv2.getNumThreads()


def test_loader_workers_run_opencv_on_one_thread():
    threads = cv2.getNumThreads()
    try:
        loader = FaceDataModule(num_workers=1)._loader(ThreadCount(), batch_size=2)
        assert next(iter(loader)).tolist() == [1, 1]
    finally:
        cv2.setNumThreads(threads)


def test_target_draws_repeat_per_seed_and_epoch_with_replacement():
    draws = TargetDraws(size=5, count=40, seed=3)
    first = list(draws)
    assert len(first) == len(draws) == 40 and set(first) == set(range(5))  # 40 draws of 5 images: repeats
    assert list(TargetDraws(size=5, count=40, seed=3)) == first
    draws.set_epoch(1)
    assert list(draws) != first


def test_target_epoch_follows_the_source_epoch_on_every_rank():
    faces = np.zeros((20, 8, 8, 3), np.uint8)
    dm = FaceDataModule(image_size=8, batch_size=4, target_batch_size=3, num_workers=0)
    dm.source = PairedFaces(faces, faces, np.arange(20))
    dm.target = MaskLabeledFaces(faces[:7], np.zeros(7, np.int64))
    assert len(dm.train_dataloader()["target"].sampler) == 5 * 3  # 5 source batches, each with 3 target images
    dm.trainer = SimpleNamespace(num_devices=2, global_rank=0, world_size=2)
    # each rank sees 10 source faces, 2 batches: 2 x 3 target images per rank, drawn for both ranks
    assert len(dm.train_dataloader()["target"].sampler) == 2 * 3 * 2


def test_capped_identities_take_at_most_cap_images_of_a_person_per_epoch_and_redraw_each_epoch():
    identities = np.array([0] * 50 + [1] * 3 + [2] * 10)
    sampler = CappedIdentities(identities, cap=5, seed=1)
    first = list(sampler)
    assert len(first) == len(sampler) == 5 + 3 + 5 and len(set(first)) == len(first)
    assert np.bincount(identities[first]).tolist() == [5, 3, 5]
    assert list(CappedIdentities(identities, cap=5, seed=1)) == first  # the same on every rank
    sampler.set_epoch(1)
    assert set(sampler) != set(first)  # another choice of person 0's photos next epoch
