"""The config contract (mfr.config): every shipped config passes it, a bad value fails with one line that names the
key, the value and what is allowed, and every name it allows is one the code implements."""

import math

import pytest
import torch
from hydra import compose, initialize_config_dir

from conftest import CONFIGS
from mfr.config import (
    ATTENTION_LOGITS,
    ATTENTION_TARGETS,
    GRL_SCHEDULES,
    METHOD_CHECKS,
    OPTIMIZERS,
    SCHEDULES,
    check_eval_config,
    check_train_config,
)
from mfr.errors import ConfigError
from mfr.methods import METHODS
from mfr.models.grl import grl_lambda
from mfr.models.heads import HEADS
from mfr.models.losses import attention_score_loss
from mfr.models.refine import SelfAttention2d
from mfr.train.optim import build_optimizer, lr_factor

EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))
TRAINING_DATA = ["demo", "casia", "faces_cpu", "rmfd_smoke"]


@pytest.fixture(scope="module")
def composed():
    """Configs composed as mfr.fit composes them, in one Hydra context for the module (a context of its own
    would cost each test half as much again as its compose)."""
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        yield lambda config, overrides: compose(config_name=config, overrides=overrides)


@pytest.mark.parametrize(
    "overrides",
    [[f"experiment={e}"] for e in EXPERIMENTS] + [[f"data={d}"] for d in TRAINING_DATA],
    ids=lambda overrides: overrides[0],
)
def test_every_shipped_config_passes(composed, overrides):
    check_train_config(composed("train", overrides))


BAD = [
    # the probes of issue 12, then the rest of the contract, section by section
    ("experiment=dann_refine model.da.schedule=linear", "model.da.schedule='linear'; allowed: constant, dann"),
    ("optim.optimizer.lr=-1", "optim.optimizer.lr=-1; allowed: a number > 0"),
    (
        "ckpt_path=does/not/exist.ckpt",
        "ckpt_path='does/not/exist.ckpt': no such file; allowed: null or an mfr checkpoint",
    ),
    ("optim.optimizer.lr=abc", "optim.optimizer.lr='abc'; allowed: a number > 0"),
    ("optim.optimizer.momentum=1.5", "optim.optimizer.momentum=1.5; allowed: a number >= 0 and < 1"),
    ("optim.optimizer.weight_decay=-0.0001", "optim.optimizer.weight_decay=-0.0001; allowed: a number >= 0"),
    ("optim.optimizer.name=adam", "optim.optimizer.name='adam'; allowed: sgd, adamw"),
    ("optim.scheduler.name=step", "optim.scheduler.name='step'; allowed: cosine, poly, constant"),
    ("optim.scheduler.warmup_steps=-1", "optim.scheduler.warmup_steps=-1; allowed: an integer >= 0"),
    ("model.da.lambda_max=-1", "model.da.lambda_max=-1; allowed: a number >= 0"),
    ("model.da.real_weight=-0.5", "model.da.real_weight=-0.5; allowed: a number >= 0"),
    ("model.loss.attention=-1", "model.loss.attention=-1; allowed: a number >= 0"),
    ("model.loss.mask=-1", "model.loss.mask=-1; allowed: a number >= 0"),
    ("model.loss.attention_target=masked", "model.loss.attention_target='masked'; allowed: both, unmasked"),
    ("model.refine.logits=softmax", "model.refine.logits='softmax'; allowed: dot, cosine"),
    ("model.dropout=1", "model.dropout=1; allowed: a number >= 0 and < 1"),
    ("model.backbone.output_stride=12", "model.backbone.output_stride=12; allowed: null, 8, 16, 32"),
    ("model.backbone.pretrained=true", "model.backbone.pretrained=true; allowed: false (mfr never downloads weights"),
    ("model.backbone.name=resnet5O", "model.backbone.name='resnet5O' is not a timm model"),
    ("head.name=arcfaec", "head.name='arcfaec' is not a head; allowed: arcface, cosface"),
    ("head.scale=0", "head.scale=0; allowed: a number > 0"),
    ("head.margin=-0.1", "head.margin=-0.1; allowed: a number >= 0"),
    ("head.margin=2", "head.margin=2; allowed: a number >= 0 and < 1.571 for arcface"),
    ("head=cosface head.margin=1", "head.margin=1; allowed: a number >= 0 and < 1 for cosface"),
    ("head=softmax +head.margin=0.3", "head.margin is not a setting of head softmax; allowed: scale, sub_centers"),
    ("data.image_size=0", "data.image_size=0; allowed: an integer >= 1"),
    ("data.batch_size=8.5", "data.batch_size=8.5; allowed: an integer >= 1"),
    ("data.val_batch_size=-1", "data.val_batch_size=-1; allowed: an integer >= 1"),
    ("data.num_workers=-1", 'data.num_workers=-1; allowed: "auto" or an integer >= 0'),
    ("data.augment.flip=1.5", "data.augment.flip=1.5; allowed: a number >= 0 and <= 1"),
    (
        "trainer.max_epochs=0",
        "trainer.max_epochs=0; allowed: an integer >= 1, or -1 (no limit) with trainer.max_steps > 0",
    ),
    ("trainer.max_epochs=-1", "trainer.max_epochs=-1 with trainer.max_steps=-1 would train forever"),
    ("experiment=focusface model.focusface.mask_weight=-1", "model.focusface.mask_weight=-1; allowed: a number >= 0"),
    ("experiment=srt model.srt.margin=0", "model.srt.margin=0; allowed: a number > 0"),
    ("experiment=srt model.teacher_ckpt=/no/such.ckpt", "model.teacher_ckpt='/no/such.ckpt': no such file"),
]


@pytest.mark.parametrize("overrides, message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_value_fails_with_one_line_naming_key_value_and_what_is_allowed(composed, overrides, message):
    cfg = composed("train", overrides.split())
    with pytest.raises(ConfigError) as error:
        check_train_config(cfg)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_an_evaluation_config_is_checked_too(composed):
    cfg = composed("eval", ["data=demo", "embedding.batch_size=0"])
    with pytest.raises(ConfigError, match="embedding.batch_size=0; allowed: an integer >= 1"):
        check_eval_config(cfg)


def test_every_name_the_contract_allows_is_implemented():
    assert set(METHOD_CHECKS) == set(METHODS)
    assert all(math.isfinite(grl_lambda(name, 0.5, 1.0)) for name in GRL_SCHEDULES)
    for name in OPTIMIZERS:
        build_optimizer([torch.nn.Parameter(torch.zeros(1))], name, lr=0.1)
    assert all(0.0 <= lr_factor(5, 10, name, 0, 0.0) <= 1.0 for name in SCHEDULES)
    maps = torch.softmax(torch.randn(2, 4, 4), dim=-1)
    assert all(torch.isfinite(attention_score_loss(maps, maps.flip(0), target)) for target in ATTENTION_TARGETS)
    for logits in ATTENTION_LOGITS:
        SelfAttention2d(8, (2, 2), qk_channels=4, logits=logits)


@pytest.mark.parametrize("name", [name for name, head in HEADS.items() if head.margin_limit is not None])
def test_at_a_heads_margin_limit_a_face_on_its_class_centre_no_longer_wins(name):
    """The limit mfr.config enforces on head.margin: at it, the target logit of a face lying on its class centre
    is no higher than that of a class orthogonal to it; just below it, it is."""
    limit = HEADS[name].margin_limit

    def logits(margin: float) -> torch.Tensor:
        head = HEADS[name](2, 2, scale=1.0, margin=margin).eval()
        head.weight.data = torch.eye(2).repeat_interleave(head.sub_centers, dim=0)
        if name == "adaface":  # a high-quality face: z = 1, where AdaFace's margin is largest
            head.norm_mean.fill_(0.0), head.norm_std.fill_(1.0)
            head.h = 1.0
        return head(torch.tensor([[10.0, 0.0]]), torch.tensor([0]))[0]

    at_limit, below = logits(limit), logits(0.98 * limit)
    assert at_limit[0] <= at_limit[1] + 1e-6 and below[0] > below[1]
