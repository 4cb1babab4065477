"""The comparators: FocusFace's and SRT's losses against their formulas, their models doing what they are for, the
frozen teacher, the masked-only unmasking at evaluation, checkpoints, and `model.method`."""

import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import TINY, compose_config
from mfr.comparators.srt import (
    EmbeddingUnmasking,
    other_identity,
    self_restrained_triplet_loss,
    teacher_stage,
    triplet_distances,
    triplet_loss,
)
from mfr.config import check_module_settings
from mfr.errors import ConfigError
from mfr.eval.checkpoint import ModuleEmbedder, load_checkpoint
from mfr.eval.embedding import EmbeddingCache, compute_embeddings, embed_images
from mfr.methods import module_class
from mfr.train.run import build_module, module_settings, train


def batch_of(n: int = 4, size: int = 32, classes: int = 3, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    masked = image.clone()
    masked[:, :, size // 2 :] = 90  # a flat grey "mask" over the lower half
    return {"source": {"image": image, "masked": masked, "identity": torch.arange(n) % classes}}


# -- SRT's loss, exactly ------------------------------------------------------------------------------------------
def test_triplet_distances_are_squared_distances_of_unit_vectors():
    anchor, positive, negative = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 0.5]]), torch.tensor([[-2.0, 0.0]])
    d_ap, d_an, d_pn = triplet_distances(anchor, positive, negative)
    assert [d_ap.item(), d_an.item(), d_pn.item()] == pytest.approx([2.0, 4.0, 2.0])


def test_triplet_loss_is_the_mean_hinge():
    d_ap, d_an = torch.tensor([2.0, 0.5]), torch.tensor([4.0, 0.2])
    assert triplet_loss(d_ap, d_an, margin=1.0).item() == pytest.approx((0.0 + 1.3) / 2)


def test_srt_restrains_the_negative_to_the_mean_positive_negative_distance_once_anchors_are_far_enough():
    d_ap, d_pn = torch.tensor([0.5, 1.0]), torch.tensor([2.0, 1.0])  # mean d(p,n) = 1.5
    far = torch.tensor([3.0, 3.0])  # mean d(a,n) = 3 >= 1.5: max(d_ap - 1.5 + m, 0)
    assert self_restrained_triplet_loss(d_ap, far, d_pn, margin=2.0).item() == pytest.approx((1.0 + 1.5) / 2)
    assert triplet_loss(d_ap, far, margin=2.0).item() == 0.0  # the plain triplet would have stopped pulling
    near = torch.tensor([1.0, 1.0])  # mean d(a,n) = 1 < 1.5: the plain triplet loss
    assert self_restrained_triplet_loss(d_ap, near, d_pn, margin=2.0).item() == pytest.approx((1.5 + 2.0) / 2)


def test_srt_in_its_restrained_branch_pulls_the_anchor_only_towards_its_positive():
    anchor = torch.tensor([[1.0, 0.2]], requires_grad=True)
    positive, negative = torch.tensor([[1.0, 1.0]]), torch.tensor([[-1.0, 0.0]])
    d_ap, d_an, d_pn = triplet_distances(anchor, positive, negative)
    assert d_an.mean() >= d_pn.mean()
    self_restrained_triplet_loss(d_ap, d_an, d_pn, margin=4.0).backward()  # a margin that keeps the hinge open
    (expected,) = torch.autograd.grad(triplet_distances(anchor, positive, negative)[0].sum(), anchor)
    assert torch.allclose(anchor.grad, expected)  # d/da of d(a,p) alone: the negative exerts no force


def test_negatives_are_other_identities_and_missing_where_the_batch_has_none():
    ids = torch.tensor([0, 0, 1, 2, 2, 2])
    for _ in range(20):
        picked = other_identity(ids)
        assert (ids[picked] != ids).all()
    assert other_identity(torch.tensor([5, 5, 5])).tolist() == [-1, -1, -1]


def test_eum_is_the_authors_stack_of_linear_and_batchnorm_layers():
    eum = EmbeddingUnmasking(16, layers=4, negative_slope=0.2)
    kinds = [type(m).__name__ for m in eum.layers]
    assert kinds.count("Linear") == 4 and kinds.count("BatchNorm1d") == 4 and kinds.count("LeakyReLU") == 3
    assert kinds[-1] == "BatchNorm1d" and eum(torch.randn(5, 16)).shape == (5, 16)


# -- FocusFace -------------------------------------------------------------------------------------------------------
@pytest.fixture
def focusface(tmp_path):
    torch.manual_seed(0)
    return build_module(compose_config(tmp_path, ["experiment=focusface", *TINY]), num_classes=3).eval()


def test_focusface_loss_is_its_formula_over_the_evaluated_embedding(focusface):
    batch = batch_of()
    loss, terms = focusface.losses(batch)
    source, n = batch["source"], 4
    x = focusface.normalise(torch.cat([source["image"], source["masked"]]))
    e1 = focusface.embedder(x)[0]  # the embedding evaluation compares
    mask = focusface.mask_head(focusface.embedder.backbone(x))
    y = source["identity"]
    arc = lambda e: F.cross_entropy(focusface.head(e, y), y)  # noqa: E731
    identity = (arc(e1[:n]) + arc(e1[n:])) / 2
    detection = (F.cross_entropy(mask[:n], torch.zeros_like(y)) + F.cross_entropy(mask[n:], torch.ones_like(y))) / 2
    contrastive = ((e1[:n] - e1[n:]) ** 2).mean()
    assert terms["id"].item() == pytest.approx(identity.item(), rel=1e-5)
    assert terms["mask"].item() == pytest.approx(detection.item(), rel=1e-5)
    assert terms["contrastive"].item() == pytest.approx(contrastive.item(), rel=1e-5)
    assert loss.item() == pytest.approx((identity + 0.1 * detection + contrastive / 3).item(), rel=1e-5)


def test_focusface_mask_head_learns_to_tell_masked_from_unmasked(focusface):
    source = batch_of(n=8)["source"]
    with torch.no_grad():  # the trunk's maps of 8 faces and their twins, fixed: only the mask head learns here
        fmap = focusface.embedder.backbone(focusface.normalise(torch.cat([source["image"], source["masked"]])))
    labels = torch.arange(16) // 8  # 0 unmasked, 1 masked
    optimizer = torch.optim.SGD(focusface.mask_head.parameters(), lr=0.05)
    focusface.mask_head.train()
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(focusface.mask_head(fmap), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    focusface.mask_head.eval()
    assert losses[-1] < 0.5 * losses[0] and (focusface.mask_head(fmap).argmax(1) == labels).all()


def test_focusface_checkpoint_loads_as_focusface(focusface, tmp_path):
    path = tmp_path / "focusface.ckpt"
    torch.save({"state_dict": focusface.state_dict(), "hyper_parameters": dict(focusface.hparams)}, path)
    loaded = load_checkpoint(path)
    assert type(loaded).__name__ == "FocusFaceModule"
    assert torch.equal(loaded.mask_head.classifier.weight, focusface.mask_head.classifier.weight)
    images = batch_of()["source"]["image"]
    assert torch.allclose(loaded.embed(images), focusface.embed(images), atol=1e-6)  # e1, as evaluation embeds


def test_focusface_refuses_what_it_does_not_have(tmp_path):
    for override, message in [
        ("model.da.enabled=true", "FocusFace has no domain discriminator"),
        ("model.refine.enabled=true", "FocusFace has no refinement layer"),
        ("model.masked_twins=false", "FocusFace trains on each face with its masked twin"),
    ]:
        settings = module_settings(compose_config(tmp_path, ["experiment=focusface", *TINY, override]))
        with pytest.raises(ConfigError, match=message):
            check_module_settings(**settings)


def test_an_unknown_method_lists_the_methods(tmp_path):
    settings = module_settings(compose_config(tmp_path, ["experiment=dann", *TINY, "model.method=focus"]))
    with pytest.raises(ConfigError, match="model.method='focus' is not a method; allowed: mfr, focusface, srt"):
        module_class(settings["model"])


# -- SRT on a frozen teacher ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def srt_run(tmp_path_factory):
    """experiment=srt as one job: stage 1 trains the face model (2 steps), stage 2 the EUM on it (2 steps)."""
    tmp = tmp_path_factory.mktemp("srt")
    train(compose_config(tmp, ["experiment=srt", *TINY]))
    return tmp / "out"


@pytest.mark.slow
def test_srt_job_trains_its_teacher_first_and_keeps_it_frozen(srt_run):
    summary = json.loads((srt_run / "metrics.json").read_text())
    teacher_ckpt = srt_run / "teacher" / "teacher.ckpt"
    assert (
        summary["teacher"]["checkpoint"] == str(teacher_ckpt) and "val/demo_real/acc" in summary["teacher"]["metrics"]
    )
    teacher, srt = load_checkpoint(teacher_ckpt), load_checkpoint(srt_run / "checkpoints" / "last.ckpt")
    assert teacher.hparams.model["method"] == "mfr" and "srt" not in teacher.hparams.model
    for name, value in teacher.state_dict().items():  # not one teacher weight or statistic moved during stage 2
        assert torch.equal(value, srt.teacher.state_dict()[name]), name


@pytest.mark.slow
def test_srt_training_pulls_masked_anchors_onto_their_unmasked_faces(srt_run, tmp_path):
    cfg = compose_config(
        tmp_path, ["experiment=srt", *TINY, f"model.teacher_ckpt={srt_run / 'teacher' / 'teacher.ckpt'}"]
    )
    srt = build_module(cfg, num_classes=3)
    teacher_before = {k: v.clone() for k, v in srt.teacher.state_dict().items()}
    optimizer = torch.optim.SGD(srt.eum.parameters(), lr=0.1, momentum=0.9)
    batch, distances = batch_of(n=6, classes=3), []
    srt.train()
    for _ in range(20):
        loss, terms = srt.losses(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        distances.append(terms["d_ap"].item())
    assert distances[-1] < 0.5 * distances[0]
    assert all(torch.equal(v, teacher_before[k]) for k, v in srt.teacher.state_dict().items())  # BN statistics too


@pytest.mark.slow
def test_srt_checkpoint_evaluates_without_the_teachers_file(srt_run, tmp_path):
    moved = tmp_path / "run"
    shutil.copytree(srt_run, moved)
    (moved / "teacher" / "teacher.ckpt").unlink()  # the SRT checkpoint carries the teacher's weights and settings
    srt = load_checkpoint(moved / "checkpoints" / "last.ckpt")
    assert type(srt).__name__ == "SRTModule" and srt.masked_aware


@pytest.mark.slow
def test_srt_unmasks_masked_faces_only(srt_run):
    srt = load_checkpoint(srt_run / "checkpoints" / "last.ckpt")
    images = batch_of(n=6)["source"]["image"]
    masked = torch.tensor([True, False, True, False, False, True])
    emb = srt.embed(images, masked)
    teacher = srt.teacher.embed(images)
    assert torch.equal(emb[~masked], teacher[~masked])
    assert torch.allclose(emb[masked], F.normalize(srt.eum(teacher[masked]), dim=1), atol=1e-6)
    assert torch.equal(srt.embed(images), teacher)  # no flags: every face as unmasked


@pytest.mark.slow
def test_evaluation_hands_the_masked_flags_to_srt_and_caches_by_them(srt_run, tmp_path):
    srt = load_checkpoint(srt_run / "checkpoints" / "last.ckpt")
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    flags = np.array([1, 0, 1, 0, 0, 1])
    embedder = ModuleEmbedder(srt, source="srt-test")
    with_flags = compute_embeddings(images, embedder, num_workers=0, masked=flags).values
    direct = srt.embed(torch.from_numpy(images).permute(0, 3, 1, 2), torch.from_numpy(flags).bool()).numpy()
    assert np.allclose(with_flags, direct, atol=1e-6)
    cache = EmbeddingCache(tmp_path / "cache")
    embed_images(images, embedder, "six", cache, num_workers=0, masked=flags)
    unflagged = embed_images(images, embedder, "six", cache, num_workers=0)
    assert not unflagged.cached and len(list((tmp_path / "cache").glob("six-*.npz"))) == 2


def test_the_teacher_stage_is_the_same_run_as_a_plain_face_model(tmp_path):
    cfg = compose_config(tmp_path, ["experiment=srt", *TINY])
    stage = teacher_stage(cfg)
    assert stage.model.method == "mfr" and "srt" not in stage.model and "teacher_ckpt" not in stage.model
    assert stage.paths.output_dir == str(tmp_path / "out" / "teacher") and stage.seed == cfg.seed
    plain = compose_config(tmp_path, ["experiment=retrained_arcface", *TINY])
    assert module_settings(stage)["model"] == {**module_settings(plain)["model"], "method": "mfr"}
    assert teacher_stage(compose_config(tmp_path, ["experiment=srt", *TINY, "model.teacher_ckpt=x.ckpt"])) is None
    assert teacher_stage(plain) is None
    with pytest.raises(ConfigError, match="also give model.teacher_ckpt"):  # resuming must not train another teacher
        teacher_stage(compose_config(tmp_path, ["experiment=srt", *TINY, "ckpt_path=last.ckpt"]))


def test_srt_config_errors_name_the_key(tmp_path):
    cases = [
        ("model.teacher_ckpt=/no/such.ckpt", "model.teacher_ckpt='/no/such.ckpt': no such file"),
        ("model.srt.loss=quadruplet", "model.srt.loss='quadruplet'; allowed: srt, triplet"),
    ]
    for override, message in cases:
        settings = module_settings(compose_config(tmp_path, ["experiment=srt", *TINY, override]))
        with pytest.raises(ConfigError, match=message):
            check_module_settings(**settings)


@pytest.mark.slow
def test_srt_refuses_a_teacher_of_another_image_size(srt_run, tmp_path):
    cfg = compose_config(
        tmp_path,
        ["experiment=srt", *TINY, "data.image_size=48", f"model.teacher_ckpt={srt_run / 'teacher' / 'teacher.ckpt'}"],
    )
    with pytest.raises(ConfigError, match="data.image_size=48, but the teacher was trained on 32px faces"):
        build_module(cfg, num_classes=3)


@pytest.mark.slow
def test_mfr_evaluate_reads_an_srt_checkpoint_and_unmasks_masked_probes_only(srt_run, tmp_path):
    from mfr.data.demo.benchmarks import write_mfr2
    from mfr.eval.run import evaluate
    from test_eval_run import eval_config

    root = write_mfr2(tmp_path / "mfr2", identities=6, images_per_identity=4, pairs=60, seed=2)
    results = {}
    for name, ckpt in [
        ("srt", srt_run / "checkpoints" / "last.ckpt"),
        ("teacher", srt_run / "teacher" / "teacher.ckpt"),
    ]:
        cfg = eval_config(
            [f"ckpt_path={ckpt}", "data=mfr2", f"data.root={root}", "embedding.num_workers=0"], tmp_path / name
        )
        results[name] = evaluate(cfg)["sets"]["mfr2"]["protocols"]
    assert results["srt"]["unmasked_unmasked"]["auc"] == results["teacher"]["unmasked_unmasked"]["auc"]  # untouched
    assert (
        results["srt"]["umr_mp"]["auc"] != results["teacher"]["umr_mp"]["auc"]
    )  # the masked probes went through the EUM
    assert "mr_mp" in results["srt"]


def test_focusface_loads_no_target_images_it_would_not_use(tmp_path):
    cfg = compose_config(tmp_path, ["experiment=focusface", *TINY])
    assert cfg.data.use_target is False
    assert compose_config(tmp_path, ["experiment=retrained_arcface", *TINY]).data.use_target is True
