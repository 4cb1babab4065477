"""Gradient reversal, the DANN schedule, the attention-score loss and the refinement layer."""

import math

import pytest
import timm
import torch

from mfr.errors import ConfigError
from mfr.models import attention_score_loss
from mfr.models.backbone import Backbone
from mfr.models.grl import GradientReversal, grl_lambda
from mfr.models.refine import SelfAttention2d


def test_grl_is_identity_forward_and_scales_gradient_by_minus_lambda():
    grl = GradientReversal(coeff=2.5)
    x = torch.randn(4, 3, requires_grad=True)
    y = grl(x)
    assert torch.equal(y, x)
    upstream = torch.randn(4, 3)
    y.backward(upstream)
    assert torch.allclose(x.grad, -2.5 * upstream)


def test_dann_schedule_rises_from_zero_to_nearly_max():
    assert grl_lambda("dann", 0.0, 100.0) == 0.0
    assert grl_lambda("dann", 0.5, 100.0) == pytest.approx(100 * (2 / (1 + math.exp(-5)) - 1))
    assert grl_lambda("dann", 1.0, 1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert grl_lambda("constant", 0.3, 100.0) == 100.0
    with pytest.raises(ValueError, match="constant, dann"):
        grl_lambda("linear", 0.5, 1.0)


def test_attention_score_loss():
    a = torch.softmax(torch.randn(3, 49, 49), -1)
    assert attention_score_loss(a, a.clone()).item() == 0.0
    b = a.clone()
    b[0, 0, 0] += 3.0  # one sample off by 3 in one entry: ||.||_F = 3, mean over 3 samples = 1
    assert attention_score_loss(a, b).item() == pytest.approx(1.0, abs=1e-5)


def test_self_attention_rows_are_distributions_and_start_as_identity():
    layer = SelfAttention2d(16, (7, 7), qk_channels=4)
    x = torch.randn(2, 16, 7, 7)
    out, att = layer(x)
    assert att.shape == (2, 49, 49)
    assert torch.allclose(att.sum(-1), torch.ones(2, 49), atol=1e-5)
    assert torch.equal(out, x)  # gamma starts at 0 (SAGAN): the layer begins as the identity


def test_iresnet50_is_in_timm_and_ends_on_7x7x512():
    import mfr.models  # noqa: F401

    assert timm.is_model("iresnet50")
    net = timm.create_model("iresnet18", num_classes=0)
    assert net.forward_features(torch.zeros(1, 3, 112, 112)).shape == (1, 512, 7, 7)


def test_resnet_neck_gives_the_papers_7x7x512_map():
    backbone = Backbone("resnet18", channels=512, output_stride=16).eval()
    assert backbone(torch.zeros(1, 3, 112, 112)).shape == (1, 512, 7, 7)


def test_unknown_backbone_suggests_close_names():
    with pytest.raises(ConfigError, match="model.backbone.name='resnet5O'.*timm.list_models.*resnet50"):
        Backbone("resnet5O")


def test_pretrained_download_is_refused_with_instructions():
    with pytest.raises(ConfigError, match="model.backbone.checkpoint"):
        Backbone("resnet18", pretrained=True)
