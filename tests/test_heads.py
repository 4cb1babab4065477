"""Margin heads against their formulas, on embeddings whose angles to the class centres are known."""

import math

import pytest
import torch

from mfr.errors import ConfigError
from mfr.models.heads import HEADS, AdaFace, ArcFace, CosFace, NormSoftmax, SubCenterArcFace, build_head


def head_at_angles(head, thetas):
    """Class 0's centre on the x axis, class 1's on y; embedding i at angle thetas[i] from class 0."""
    with torch.no_grad():
        head.weight.zero_()
        rows = head.weight.view(head.num_classes, head.sub_centers, -1)
        rows[0, :, 0] = 1.0
        rows[1, :, 1] = 1.0
    t = torch.tensor(thetas, dtype=torch.float64)
    emb = torch.stack([torch.cos(t), torch.sin(t)], 1).float()
    return emb, t


def test_arcface_target_logit_is_s_cos_theta_plus_m():
    head = ArcFace(2, 2, scale=64.0, margin=0.5)
    emb, t = head_at_angles(head, [0.3, 1.2])
    logits = head(emb, torch.tensor([0, 0]))
    assert torch.allclose(logits[:, 0].double(), 64 * torch.cos(t + 0.5), atol=1e-4)
    assert torch.allclose(logits[:, 1].double(), 64 * torch.sin(t), atol=1e-4)  # non-target: plain s*cos


def test_arcface_beyond_pi_uses_the_monotonic_fallback():
    head = ArcFace(2, 2, scale=64.0, margin=0.5)
    theta = math.pi - 0.2  # theta + m > pi
    emb, t = head_at_angles(head, [theta])
    logit = head(emb, torch.tensor([0]))[0, 0].item()
    assert logit == pytest.approx(64 * (math.cos(theta) - 0.5 * math.sin(0.5)), abs=1e-3)
    # and the target logit keeps falling as theta grows past pi - m
    emb2, _ = head_at_angles(head, [theta - 0.4])
    assert head(emb2, torch.tensor([0]))[0, 0].item() > logit


def test_cosface_subtracts_the_margin_from_the_cosine():
    head = CosFace(2, 2, scale=30.0, margin=0.35)
    emb, t = head_at_angles(head, [0.4])
    assert head(emb, torch.tensor([0]))[0, 0].item() == pytest.approx(30 * (math.cos(0.4) - 0.35), abs=1e-4)


def test_norm_softmax_is_scaled_cosine():
    head = NormSoftmax(2, 2, scale=16.0)
    emb, t = head_at_angles(head, [0.7])
    out = head(emb, torch.tensor([1]))
    assert torch.allclose(out[0].double(), 16 * torch.tensor([math.cos(0.7), math.sin(0.7)]).double(), atol=1e-4)


def test_subcenter_arcface_uses_the_closest_subcenter():
    head = SubCenterArcFace(2, 2, scale=64.0, margin=0.5, sub_centers=2)
    with torch.no_grad():
        head.weight.zero_()
        w = head.weight.view(2, 2, 2)
        w[0, 0] = torch.tensor([1.0, 0.0])  # class 0: sub-centres at 0 and 90 degrees
        w[0, 1] = torch.tensor([0.0, 1.0])
        w[1, 0] = torch.tensor([-1.0, 0.0])
        w[1, 1] = torch.tensor([0.0, -1.0])
    theta = 1.3  # nearer the 90-degree sub-centre: its angle is pi/2 - theta
    emb = torch.tensor([[math.cos(theta), math.sin(theta)]])
    logit = head(emb, torch.tensor([0]))[0, 0].item()
    assert logit == pytest.approx(64 * math.cos(math.pi / 2 - theta + 0.5), abs=1e-3)


def test_adaface_margin_follows_the_feature_norm():
    head = AdaFace(2, 2, scale=64.0, margin=0.4, h=0.333)
    head.norm_mean.fill_(10.0)
    head.norm_std.fill_(5.0)
    head.eval()  # statistics frozen: the formula is exact
    theta, norm = 0.8, 15.0
    emb, _ = head_at_angles(head, [theta])
    z = max(-1.0, min(1.0, (norm - 10.0) / (5.0 + 1e-3) * 0.333))
    expected = 64 * (math.cos(theta - 0.4 * z) - (0.4 * z + 0.4))
    assert head(emb * norm, torch.tensor([0]))[0, 0].item() == pytest.approx(expected, abs=1e-3)


def test_adaface_updates_its_running_norm_statistics_in_training():
    head = AdaFace(4, 3, momentum=0.5)
    emb = torch.randn(8, 4)
    norms = emb.norm(dim=1)
    head.train()
    head(emb, torch.zeros(8, dtype=torch.long))
    assert head.norm_mean.item() == pytest.approx(0.5 * 20.0 + 0.5 * norms.mean().item(), rel=1e-5)
    assert head.norm_std.item() == pytest.approx(0.5 * 100.0 + 0.5 * norms.std().item(), rel=1e-5)
    assert "norm_mean" in head.state_dict()  # so checkpoints carry them


def test_adaface_statistics_are_the_mean_and_unbiased_std_of_the_norms():
    head = AdaFace(4, 3, momentum=1.0)  # momentum 1: the running values become the batch's
    head._update_norm_stats(torch.tensor([3.0, 4.0, 8.0]))
    assert head.norm_mean.item() == pytest.approx(5.0)
    assert head.norm_std.item() == pytest.approx(math.sqrt((4 + 1 + 9) / 2))
    head._update_norm_stats(torch.tensor([6.0]))  # one norm has no spread
    assert (head.norm_mean.item(), head.norm_std.item()) == (6.0, 0.0)


@pytest.mark.parametrize("factor", [0.0, 0.25, 1.0])
def test_margin_factor_blends_plain_cosine_and_the_full_margin(factor):
    head = ArcFace(2, 2, scale=64.0, margin=0.5)
    head.margin_factor = factor
    emb, t = head_at_angles(head, [0.6])
    expected = (1 - factor) * math.cos(0.6) + factor * math.cos(0.6 + 0.5)
    assert head(emb, torch.tensor([0]))[0, 0].item() == pytest.approx(64 * expected, abs=1e-4)


@pytest.mark.parametrize("name", sorted(HEADS))
def test_logits_are_fp32_exact_under_bf16_autocast(name):
    """bf16 training (CPU autocast runs it too) must not round the cosines: s=64 would magnify it."""
    torch.manual_seed(0)
    head = build_head(name, 64, 200).eval()  # eval: AdaFace's statistics stay the same for both passes
    embeddings, labels = (torch.randn(32, 64) * 20).bfloat16(), torch.randint(0, 200, (32,))  # as a bf16 model emits
    exact = head(embeddings.float(), labels)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = head(embeddings, labels)
    assert mixed.dtype == torch.float32
    assert (mixed - exact).abs().max().item() < 1e-4


def test_unknown_head_names_the_allowed_values():
    with pytest.raises(ConfigError, match="head.name='nope'.*arcface, cosface, adaface, subcenter_arcface, softmax"):
        build_head("nope", 8, 2)
