"""The figures behind the notebooks and the attention-map callback, on a tiny model."""

import numpy as np
import pytest
import torch

from conftest import TINY, compose_config
from mfr.errors import ConfigError
from mfr.train.run import build_module
from mfr.viz.attention import attention_figure, attention_maps, overlay
from mfr.viz.embeddings import centroid_distance, project_2d, projection_figure
from mfr.viz.figures import save_figure
from mfr.viz.samples import REAL, SYNTHETIC, UNMASKED, face_samples


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny full model (refinement + DA) and its demo DataModule."""
    import hydra

    tmp = tmp_path_factory.mktemp("viz")
    cfg = compose_config(tmp, ["experiment=dann_refine", *TINY])
    datamodule = hydra.utils.instantiate(cfg.data)
    return build_module(cfg, datamodule.num_classes).eval(), datamodule, cfg


def test_face_samples_pair_twins_with_their_faces_and_take_real_masked_views(tiny):
    _, datamodule, _ = tiny
    faces = face_samples(datamodule, count=3)
    assert set(faces) == {UNMASKED, SYNTHETIC, REAL}
    assert all(f.shape == (3, 32, 32, 3) and f.dtype == np.uint8 for f in faces.values())
    assert np.array_equal(faces[UNMASKED][0], datamodule.source.images[0])
    assert np.array_equal(faces[SYNTHETIC][0], datamodule.source.masked[0])
    real = datamodule.val_sets[0]
    masked_views = real.images[np.asarray(real.meta["masked"]) == 1]
    assert any(np.array_equal(faces[REAL][0], v) for v in masked_views)


def test_attention_maps_are_the_attention_each_location_receives(tiny):
    module, datamodule, _ = tiny
    faces = face_samples(datamodule, count=2)[UNMASKED]
    maps = attention_maps(module, faces)
    h, w = module.embedder.spatial
    assert maps.shape == (2, h, w)
    x = module.normalise(torch.from_numpy(faces).permute(0, 3, 1, 2))
    with torch.no_grad():
        _, attention = module.embedder(x)
    # rows of the attention matrix are distributions, so the column means sum to one
    assert np.allclose(maps.reshape(2, -1).sum(1), 1.0, atol=1e-5)
    assert np.allclose(maps[1].ravel(), attention[1].mean(0).numpy(), atol=1e-6)
    assert not module.training  # left as it was


def test_overlay_keeps_the_face_size_and_colours_the_hot_spot():
    face = np.full((32, 32, 3), 128, np.uint8)
    heat = np.zeros((4, 4))
    heat[0, 0] = 1.0
    out = overlay(face, heat)
    assert out.shape == face.shape and out.dtype == np.uint8
    assert not np.array_equal(out[0, 0], out[-1, -1])  # hot corner and cold corner differ


def test_attention_figure_is_none_without_refinement(tmp_path, tiny):
    _, datamodule, _ = tiny
    bare = build_module(compose_config(tmp_path, ["experiment=dann", *TINY]), datamodule.num_classes)
    assert attention_figure(bare, face_samples(datamodule, 2)) is None


def test_pca_projection_is_shared_and_ordered_by_variance():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (50, 8)) * np.array([10, 1, 1, 1, 1, 1, 1, 1])
    b = a + np.array([0, 0, 5, 0, 0, 0, 0, 0])
    points = project_2d({"a": a, "b": b})
    assert points["a"].shape == (50, 2) and points["b"].shape == (50, 2)
    assert points["a"][:, 0].var() > points["a"][:, 1].var()
    assert centroid_distance(a, b) == pytest.approx(5.0)
    with pytest.raises(ConfigError, match="method='umap'; allowed: pca, tsne"):
        project_2d({"a": a}, method="umap")


def test_projection_figure_draws_one_panel_per_model(tmp_path):
    points = {"unmasked": np.zeros((3, 2)), "real masked": np.ones((3, 2))}
    path = save_figure(projection_figure({"without DA": points, "with DA": points}), tmp_path / "p.png")
    assert path.stat().st_size > 5000


@pytest.mark.slow
def test_callback_saves_a_panel_every_validation(tmp_path):
    from mfr.train.run import train

    cfg = compose_config(
        tmp_path,
        [
            "experiment=dann_refine",
            *TINY,
            "trainer.max_steps=4",
            "trainer.val_check_interval=2",
            "trainer.check_val_every_n_epoch=1",
        ],
    )
    train(cfg)
    panels = sorted(p.name for p in (tmp_path / "out" / "attention").glob("step*.png"))
    assert panels == ["step0000002.png", "step0000004.png"]  # one per validation
