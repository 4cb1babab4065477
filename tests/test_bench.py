"""The model benchmark runs end to end on a CPU with tiny sizes, charges each part its own cost, and
compares the full step with the same backbone configuration."""

import json
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from mfr.bench import bare_network, bare_rows, full_module, main, model_config

TINY = ["--image-size", "32", "--batch", "6", "--steps", "1", "--warmup", "1", "--classes", "20", "--no-profile"]


@pytest.mark.slow
def test_bench_reports_each_parts_cost_and_full_over_bare(tmp_path):
    out = tmp_path / "bench.json"
    result = main(["--backbone", "resnet14t", *TINY, "--out", str(out)])
    saved = json.loads(out.read_text())
    steps = saved["steps"]
    # resnet14t has output stride 32 and 2048 channels of its own: the dilation and the neck are parts of their own
    assert list(steps) == ["backbone", "bare", "bare_neck", "full"]
    assert all(s["images_per_s"] > 0 for s in steps.values())
    rows = list(steps.values())
    assert rows[0]["added_seconds_per_step"] is None
    for before, row in zip(rows, rows[1:]):
        assert row["added_seconds_per_step"] == pytest.approx(row["seconds_per_step"] - before["seconds_per_step"])
    speed = result["steps"]["full"]["images_per_s"] / result["steps"]["bare"]["images_per_s"]
    assert saved["full_over_bare_speed"] == pytest.approx(speed)


def test_bare_backbone_is_configured_as_the_full_models():
    args = SimpleNamespace(backbone="resnet14t", image_size=32, classes=20, head="arcface")
    backbone_cfg = OmegaConf.to_container(model_config(args).backbone)
    rows = {key: (stride, neck) for key, _, stride, neck in bare_rows(args, backbone_cfg)}
    full = full_module(args, "cpu")
    bare = bare_network(args, backbone_cfg, *rows["bare"])
    assert bare.backbone.map_size(32) == full.embedder.spatial == (2, 2)  # the dilated stride of the full model
    assert bare_network(args, backbone_cfg, *rows["backbone"]).backbone.map_size(32) == (1, 1)


def test_iresnet_bare_arm_is_a_ceiling_with_a_small_classifier():
    """iresnet's own head flattens 7x7x512 into a 25088-wide linear layer; the bare arm pools to 512 instead."""
    args = SimpleNamespace(backbone="iresnet18", image_size=32, classes=20)
    backbone_cfg = OmegaConf.to_container(model_config(args).backbone)
    rows = bare_rows(args, backbone_cfg)
    assert [key for key, *_ in rows] == ["bare"]  # its own stride is 16 and it has 512 channels: nothing to add
    assert bare_network(args, backbone_cfg, *rows[0][2:]).classifier.in_features == 512
