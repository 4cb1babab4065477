"""The refinement attention: its statistics on exact cases, the attention-score loss's target, and a short
training run after which the attention still depends on the face (the collapse this guards against)."""

import math

import pytest
import torch

from mfr.models.attention_stats import attention_stats, collapse_warning, mask_cells, mask_shares, received
from mfr.models.losses import attention_score_loss


def one_hot_maps(batch: int, n: int, location: int) -> torch.Tensor:
    maps = torch.zeros(batch, n, n)
    maps[:, :, location] = 1.0
    return maps


def test_stats_of_a_collapsed_attention_say_so():
    stats = {k: float(v) for k, v in attention_stats(one_hot_maps(4, 49, 48)).items()}
    assert stats == pytest.approx({"entropy": 0.0, "top_share": 1.0, "input_dependence": 0.0})
    assert "collapsed" in collapse_warning(stats)


def test_stats_of_uniform_and_input_dependent_attention():
    uniform = torch.full((3, 16, 16), 1 / 16)
    stats = attention_stats(uniform)
    assert float(stats["entropy"]) == pytest.approx(math.log(16))
    assert float(stats["top_share"]) == pytest.approx(1 / 16)
    assert float(stats["input_dependence"]) == pytest.approx(0.0, abs=1e-7)
    # two faces attending to different locations: each location receives 1 or 0, std 0.5 across the two
    # faces at those two locations and 0 elsewhere -> N * mean std = 16 * (2 * 0.5 / 16) = 1
    faces = torch.cat([one_hot_maps(1, 16, 3), one_hot_maps(1, 16, 7)])
    assert float(attention_stats(faces)["input_dependence"]) == pytest.approx(1.0)
    assert collapse_warning({k: float(v) for k, v in attention_stats(uniform).items()})  # same map for every face
    assert collapse_warning({"entropy": 2.0, "input_dependence": 0.5, "top_share": 0.3}) is None
    assert collapse_warning({"entropy": 3.885, "input_dependence": 0.037, "top_share": 0.021})  # nearly uniform rows


def test_mask_cells_are_the_pixels_a_twin_changed_pooled_to_the_grid():
    face = torch.full((1, 3, 8, 8), 100, dtype=torch.uint8)
    twin = face.clone()
    twin[:, :, 4:, :] = 200  # the lower half masked
    twin[:, 0, 0, 0] = 110  # re-encoding noise below the threshold: not a mask pixel
    cells = mask_cells(face, twin, (2, 2))
    assert cells.tolist() == [[0.0, 0.0, 1.0, 1.0]]
    assert mask_cells(face, twin, (4, 4)).reshape(4, 4)[2:].eq(1).all()


def test_mask_shares_weigh_received_attention_by_mask_cells():
    cells = torch.tensor([[0.0, 0.0, 1.0, 0.5]])
    unmasked = torch.full((1, 4, 4), 0.25)  # receives 1/4 everywhere: share = 0.25 + 0.125
    masked = one_hot_maps(1, 4, 0)  # all attention on an unmasked cell
    shares = mask_shares(unmasked, masked, cells)
    assert float(shares["mask_share_unmasked"]) == pytest.approx(0.375)
    assert float(shares["mask_share_masked"]) == 0.0
    assert float(shares["mask_area"]) == pytest.approx(1.5 / 4)  # what uniform attention puts on the mask
    assert torch.allclose(received(unmasked), torch.full((1, 4), 0.25))


def test_attention_score_loss_with_the_unmasked_map_as_target_moves_only_the_masked_map():
    logits_u = torch.randn(2, 9, 9, requires_grad=True)
    logits_m = torch.randn(2, 9, 9, requires_grad=True)
    a_u, a_m = torch.softmax(logits_u, -1), torch.softmax(logits_m, -1)
    both = attention_score_loss(a_u, a_m, "both")
    fixed = attention_score_loss(a_u, a_m, "unmasked")
    assert both.item() == pytest.approx(fixed.item())  # same value, different gradients
    fixed.backward()
    assert logits_u.grad is None or logits_u.grad.abs().max() == 0
    assert logits_m.grad.abs().max() > 0
    with pytest.raises(ValueError, match="both, unmasked"):
        attention_score_loss(a_u, a_m, "masked")


# A short demo run (56px faces, a 7x7 map as in the demo preset, small everything else): long enough for the
# paper's formulation (q.k logits, L_a on both maps) to collapse to one corner for every face.
SHORT_RUN = [
    "data.identities=40",
    "data.images_per_identity=6",
    "data.target_identities=10",
    "data.target_images_per_identity=4",
    "data.val_identities=20",
    "data.val_images_per_identity=4",
    "data.val_pairs=100",
    "data.batch_size=16",
    "data.target_batch_size=8",
    "data.num_workers=0",
    "data.generate_workers=1",
    "model.embedding_size=64",
    "model.backbone.channels=64",
    "trainer.max_epochs=5",
    "trainer.check_val_every_n_epoch=5",
    "trainer.accelerator=cpu",
    "~callbacks.progress_bar",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=none",
]


@pytest.mark.slow
def test_after_a_short_demo_run_the_attention_depends_on_the_face_and_is_not_one_hot(tmp_path):
    from conftest import compose_config
    from mfr.train.run import train

    metrics = train(compose_config(tmp_path, ["experiment=dann_refine", *SHORT_RUN]))
    stats = {k.removeprefix("val/attention/"): v for k, v in metrics.items() if k.startswith("val/attention/")}
    assert stats["entropy"] > 1.0 and stats["top_share"] < 0.5, stats  # rows spread over several locations
    assert stats["input_dependence"] > 0.1, stats  # and the maps differ from face to face
    assert collapse_warning(stats) is None


def test_cosine_logits_bound_a_row_so_it_cannot_saturate():
    from mfr.models.refine import SelfAttention2d

    layer = SelfAttention2d(8, (3, 3), qk_channels=4, logits="cosine", temperature=2.0)
    with torch.no_grad():  # weights so large that q.k logits would make every row one-hot
        layer.query.weight.mul_(1e4)
        layer.key.weight.mul_(1e4)
    _, att = layer(torch.randn(2, 8, 3, 3))
    # logits within [-2, 2]: no entry can exceed e^2 / (e^2 + 8 e^-2)
    assert att.max() <= math.exp(2) / (math.exp(2) + 8 * math.exp(-2)) + 1e-6
    dot = SelfAttention2d(8, (3, 3), qk_channels=4, logits="dot")
    dot.load_state_dict(layer.state_dict())
    assert dot(torch.randn(2, 8, 3, 3))[1].amax(-1).min() > 0.99  # SAGAN's q.k saturates
    with pytest.raises(ValueError, match="dot, cosine"):
        SelfAttention2d(8, (3, 3), logits="scaled")


def test_without_the_positional_encoding_only_the_features_place_the_attention():
    from mfr.models.refine import SelfAttention2d

    flat = torch.randn(1, 8, 1, 1).expand(2, 8, 3, 3)  # every location shows the same feature
    with_position = SelfAttention2d(8, (3, 3), qk_channels=4, logits="dot")
    with torch.no_grad():
        with_position.position.normal_(std=1.0)
    assert with_position(flat)[1].std(-1).max() > 1e-3  # the encoding alone makes some cells stand out
    without = SelfAttention2d(8, (3, 3), qk_channels=4, logits="dot", position=False)
    assert without.position is None
    assert torch.allclose(without(flat)[1], torch.full((2, 9, 9), 1 / 9))


def test_attention_is_fp32_under_bf16_autocast():
    from mfr.models.refine import SelfAttention2d

    layer = SelfAttention2d(8, (3, 3), qk_channels=4, logits="cosine")
    x = torch.randn(2, 8, 3, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, att = layer(x)
    assert att.dtype == torch.float32
    assert torch.allclose(att, layer(x)[1], atol=1e-6)


def test_a_sink_takes_the_weight_a_row_parks_and_adds_nothing():
    from mfr.models.refine import SelfAttention2d

    layer = SelfAttention2d(8, (3, 3), qk_channels=4, logits="cosine", temperature=2.0, sink=True)
    x = torch.randn(2, 8, 3, 3)
    out, att = layer(x)
    assert att.shape == (2, 9, 10) and torch.allclose(att.sum(-1), torch.ones(2, 9))
    assert torch.allclose(received(att).sum(1), torch.ones(2))  # the received map: the cells' share, sink out
    with torch.no_grad():
        layer.gamma.fill_(1.0)
        layer.sink.fill_(2.0)  # the largest logit a cell can have: the sink gets at least 1/10 of every row
        out, att = layer(x)
        cells = att[..., :9]
        expected = x + torch.bmm(layer.value(x).flatten(2), cells.transpose(1, 2)).view_as(x)
    assert float(attention_stats(att)["sink_share"]) >= 0.1
    assert torch.allclose(out, expected, atol=1e-5)  # what the sink takes is added by nothing
    with torch.no_grad():
        layer.sink.fill_(50.0)  # every row parked: the layer passes its input through
        out, att = layer(x)
    assert float(attention_stats(att)["sink_share"]) == pytest.approx(1.0) and torch.allclose(out, x, atol=1e-5)
