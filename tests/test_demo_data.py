"""The synthetic demo data: deterministic, well-formed, and split the way the experiments need."""

import numpy as np
import pytest

from mfr.data.demo.datamodule import DemoDataModule, render_identity
from mfr.data.demo.faces import draw_face, sample_identity, sample_shot
from mfr.data.pairs import make_pairs

SMALL = dict(
    image_size=32,
    identities=6,
    images_per_identity=3,
    target_identities=4,
    target_images_per_identity=4,
    val_identities=20,
    val_images_per_identity=2,
    val_pairs=40,
    batch_size=4,
    target_batch_size=2,
    num_workers=0,
    generate_workers=1,
)


def test_faces_are_a_pure_function_of_the_seed():
    a = render_identity(7, 0, 3, 2, 32, "synthetic", 0.5)
    b = render_identity(7, 0, 3, 2, 32, "synthetic", 0.5)
    c = render_identity(8, 0, 3, 2, 32, "synthetic", 0.5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_landmarks_lie_on_the_drawn_face():
    rng = np.random.default_rng(0)
    image, landmarks = draw_face(sample_identity(rng), sample_shot(rng), 64, rng)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert landmarks.shape == (68, 2)
    assert (landmarks > 0).all() and (landmarks < 64).all()
    assert landmarks[8, 1] > landmarks[30, 1] > landmarks[36:48, 1].mean()  # chin below nose below eyes


def test_masked_twin_differs_only_in_the_lower_face():
    plain, masked, _ = render_identity(0, 0, 0, 1, 64, "synthetic", 0.0)
    changed = np.abs(plain[0].astype(int) - masked[0].astype(int)).sum(-1) > 30
    rows = np.flatnonzero(changed.any(1))
    assert changed.mean() > 0.1
    assert rows.min() > 64 * 0.35  # nothing drawn over the eyes (at about 0.46 of the height)


def test_datamodule_batches_and_verification_sets():
    dm = DemoDataModule(**SMALL)
    dm.setup("fit")
    assert dm.num_classes == 6
    batch = next(iter(dm.train_dataloader()["source"]))
    assert batch["image"].shape == (4, 3, 32, 32) and batch["image"].dtype.is_floating_point is False
    assert batch["masked"].shape == batch["image"].shape
    target = next(iter(dm.train_dataloader()["target"]))
    assert set(target["mask"].tolist()) <= {0, 1}
    names = [v.name for v in dm.val_sets]
    assert names == ["demo_real", "demo_synth"]
    real = dm.val_sets[0]
    masked = real.meta["masked"]
    assert (masked[real.pairs[:, 0]] == 1).all() and (masked[real.pairs[:, 1]] == 0).all()
    assert real.same.mean() == pytest.approx(0.5)


def test_pairs_fall_in_identity_disjoint_folds():
    ids = np.repeat(np.arange(30), 4)
    probe = np.tile([True, False, True, False], 30)
    pairs, same, folds = make_pairs(ids, probe, ~probe, 200, folds=10, seed=3)
    assert len(pairs) == 200 and same.sum() == 100
    assert probe[pairs[:, 0]].all() and (~probe[pairs[:, 1]]).all()
    assert (ids[pairs[same, 0]] == ids[pairs[same, 1]]).all()
    assert (ids[pairs[~same, 0]] != ids[pairs[~same, 1]]).all()
    owner = {}
    for (a, b), f in zip(pairs, folds):
        for identity in (ids[a], ids[b]):
            assert owner.setdefault(identity, f) == f  # every identity lives in one fold
    again = make_pairs(ids, probe, ~probe, 200, folds=10, seed=3)
    assert np.array_equal(again[0], pairs)
