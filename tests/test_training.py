"""Every experiment composes and trains; sweeps, bad configs and resuming behave."""

import json

import pytest
import torch
import yaml
from omegaconf import OmegaConf

from conftest import CONFIGS, TINY, compose_config, run_module
from mfr.train.run import build_module, resolve_callbacks_for_device, train, uses_gpu

EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_trains_a_few_steps(tmp_path, experiment):
    cfg = compose_config(tmp_path, [f"experiment={experiment}", *TINY])
    metrics = train(cfg)
    assert set(metrics) >= {"val/demo_real/acc", "val/demo_synth/acc"}
    assert 0.0 <= metrics["val/demo_real/acc"] <= 1.0
    summary = (tmp_path / "out" / "metrics.json").read_text()
    assert '"global_step": 2' in summary


def test_ablation_flags_switch_the_parts(tmp_path):
    full = build_module(compose_config(tmp_path, ["experiment=dann_refine", *TINY]), num_classes=5)
    bare = build_module(compose_config(tmp_path, ["experiment=baseline_arcface", *TINY]), num_classes=5)
    assert full.discriminator is not None and full.embedder.refine
    assert bare.discriminator is None and not bare.embedder.refine and not bare.masked_twins
    # refinement off removes only the attention: the output layer is the same shape either way
    shapes = lambda m: [p.shape for n, p in m.embedder.output.named_parameters() if not n.startswith("attention")]  # noqa: E731
    assert shapes(full) == shapes(bare)


@pytest.mark.slow
def test_multirun_ablation_gives_four_runs_differing_only_in_the_flags(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_module(
        "mfr.fit",
        "-m",
        "experiment=dann_refine",
        "model.refine.enabled=true,false",
        "model.da.enabled=true,false",
        *TINY,
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    configs = [yaml.safe_load((d / ".hydra" / "config.yaml").read_text()) for d in sorted(sweep.glob("[0-9]*"))]
    assert len(configs) == 4
    flags = {(c["model"]["refine"]["enabled"], c["model"]["da"]["enabled"]) for c in configs}
    assert flags == {(True, True), (True, False), (False, True), (False, False)}
    for c in configs:
        c["model"]["refine"]["enabled"] = c["model"]["da"]["enabled"] = None
    assert all(c == configs[0] for c in configs)
    assert all((d / "metrics.json").is_file() for d in sweep.glob("[0-9]*"))


def test_unknown_config_group_option_lists_the_choices(tmp_path):
    result = run_module("mfr.fit", "head=arcfaec", *TINY, cwd=tmp_path)
    assert result.returncode != 0
    assert "arcface" in result.stderr and "cosface" in result.stderr


@pytest.mark.slow
def test_resume_restores_step_grl_progress_and_head_state(tmp_path):
    common = ["experiment=dann_refine", "head=adaface", "model.da.schedule=dann", *TINY, "trainer.max_steps=-1"]
    first = compose_config(tmp_path / "a", [*common, "trainer.max_epochs=1"])
    train(first)
    last = tmp_path / "a" / "out" / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=True)
    steps_per_epoch = state["global_step"]
    assert steps_per_epoch > 0

    resumed = compose_config(tmp_path / "b", [*common, "trainer.max_epochs=2", f"ckpt_path={last}"])
    seen = {}

    import mfr.module

    original = mfr.module.MaskedFaceModule.on_train_start

    def capture(self):  # what the module looks like right after the checkpoint is restored
        seen["step"] = self.global_step
        seen["norm_mean"] = self.head.norm_mean.clone()
        seen["lambda"] = self.grl_coefficient()

    mfr.module.MaskedFaceModule.on_train_start = capture
    try:
        train(resumed)
    finally:
        mfr.module.MaskedFaceModule.on_train_start = original
    assert seen["step"] == steps_per_epoch
    assert torch.equal(seen["norm_mean"], state["state_dict"]["head.norm_mean"])
    assert seen["lambda"] > 0.0  # the DANN ramp continues from where it was, not from 0
    final = torch.load(tmp_path / "b" / "out" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert final["global_step"] == 2 * steps_per_epoch


def test_margin_warmup_ramps_the_heads_margin_in_with_training_progress(tmp_path):
    cfg = compose_config(tmp_path, ["experiment=dann_refine", *TINY, "model.margin_warmup=0.5"])
    module = build_module(cfg, num_classes=4)
    factors = {}
    for step in (0, 25, 50, 100):
        module.progress = lambda step=step: step / 100
        factors[step] = module.margin_factor()
    assert factors == {0: 0.0, 25: 0.5, 50: 1.0, 100: 1.0}


@pytest.mark.slow
def test_checkpoint_hyperparameters_are_plain_containers(tmp_path):
    train(compose_config(tmp_path, ["experiment=dann_refine", *TINY]))
    ckpt = torch.load(tmp_path / "out" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["hyper_parameters"]["model"]["refine"]["enabled"] is True


@pytest.mark.slow
def test_last_checkpoint_holds_the_final_step_even_when_no_new_best_is_saved(tmp_path):
    # a monitor whose best is its first value (epoch, minimised): as a run whose metric falls after epoch 0
    cfg = compose_config(
        tmp_path,
        [
            "experiment=dann_refine",
            *TINY,
            "trainer.max_steps=-1",
            "trainer.max_epochs=2",
            "trainer.check_val_every_n_epoch=1",
            "monitor=epoch",
            "callbacks.model_checkpoint.mode=min",
        ],
    )
    train(cfg)
    final_step = json.loads((tmp_path / "out" / "metrics.json").read_text())["global_step"]
    state = torch.load(tmp_path / "out" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert final_step > 0 and state["global_step"] == final_step


@pytest.mark.parametrize("trainer, refresh", [("gpu", 100), ("ddp", 100), ("cpu", 10)])
def test_progress_bar_refreshes_rarely_on_a_gpu(tmp_path, trainer, refresh):
    """Each refresh reads the logged losses back from the device: a host sync that stalls a GPU every 10 steps."""
    cfg = compose_config(tmp_path, [f"trainer={trainer}"])
    on_gpu = uses_gpu(OmegaConf.to_container(cfg.trainer, resolve=True))
    callbacks = resolve_callbacks_for_device(OmegaConf.to_container(cfg.callbacks, resolve=True), on_gpu)
    assert callbacks["progress_bar"]["refresh_rate"] == refresh


def test_ddp_keeps_batchnorm_statistics_per_gpu_unless_asked(tmp_path):
    assert compose_config(tmp_path, ["trainer=ddp"]).trainer.sync_batchnorm is False
    assert compose_config(tmp_path, ["trainer=ddp", "trainer.sync_batchnorm=true"]).trainer.sync_batchnorm is True


def test_mask_loss_weighs_each_synthetic_pair_like_the_paper_and_target_images_pass_in_every_cell(tmp_path):
    import torch.nn.functional as F

    full = build_module(compose_config(tmp_path, ["experiment=dann_refine", *TINY]), num_classes=5)
    bare = build_module(compose_config(tmp_path, ["experiment=retrained_arcface", *TINY]), num_classes=5)
    g = torch.Generator().manual_seed(0)
    batch = {
        "source": {
            "image": torch.randint(0, 255, (4, 3, 32, 32), generator=g, dtype=torch.uint8),
            "masked": torch.randint(0, 255, (4, 3, 32, 32), generator=g, dtype=torch.uint8),
            "identity": torch.tensor([0, 1, 2, 3]),
        },
        "target": {
            "image": torch.randint(0, 255, (3, 3, 32, 32), generator=g, dtype=torch.uint8),
            "mask": torch.tensor([0, 1, 1]),
        },
    }
    seen = []
    for module in (full, bare):
        hook = module.embedder.backbone.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
        _, terms = module.losses(batch)
        hook.remove()
    assert seen == [11, 11]  # 4 faces + 4 twins + 3 target images, with DA and without
    assert "mask" not in terms
    # L_m^s = (1/B) sum_i [CE(D(x_i), 0) + CE(D(x^_i), 1)]: twice the mean over the 2B images
    full.eval()
    _, terms = full.losses(batch)
    emb, _ = full.embedder(full.normalise(torch.cat([batch["source"]["image"], batch["source"]["masked"]])))
    logits = full.discriminator(emb)
    per_pair = F.cross_entropy(logits[:4], torch.zeros(4, dtype=torch.long), reduction="none") + F.cross_entropy(
        logits[4:], torch.ones(4, dtype=torch.long), reduction="none"
    )
    assert terms["mask_synthetic"].item() == pytest.approx(per_pair.mean().item(), rel=1e-4)
