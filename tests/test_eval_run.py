"""End to end on a tiny model: training's callback logs the engine's metrics, the checkpoint it writes
loads weights-only, flip TTA behaves, and `mfr.evaluate` writes its table, JSON and plots."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from conftest import CONFIGS, TINY, compose_config
from mfr.data.demo.benchmarks import write_mfr2
from mfr.eval.checkpoint import CheckpointError, ModuleEmbedder, load_checkpoint
from mfr.eval.embedding import compute_embeddings


def eval_config(overrides: list[str], out: Path):
    """The evaluation config as `python -m mfr.evaluate` would build it, with outputs under out."""
    paths = [f"paths.root_dir={out}", f"paths.output_dir={out}", f"paths.log_dir={out / 'logs'}"]
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        return compose("eval", overrides=overrides + paths)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two training steps and one validation of the demo at 32 px: (output dir, final metrics)."""
    from mfr.train.run import train

    tmp = tmp_path_factory.mktemp("fit")
    metrics = train(compose_config(tmp, TINY + ["experiment=dann_refine"]))
    return tmp / "out", metrics


@pytest.fixture(scope="module")
def checkpoint(trained):
    return trained[0] / "checkpoints" / "last.ckpt"


@pytest.mark.slow
def test_callback_logs_the_engine_metrics(trained):
    out, metrics = trained
    for key in (
        "val/demo_real/acc",
        "val/demo_real/umr_mp/acc",
        "val/demo_real/umr_mp/eer",
        "val/demo_real/umr_mp/rank1",
        "val/demo_synth/auc",
        "val/demo_real/tar_far1e-1",
    ):
        assert key in metrics, key
    saved = json.loads(next((out / "eval").glob("val_step*.json")).read_text())
    demo = saved["sets"]["demo_real"]
    assert demo["pairs"] == 40 and demo["protocols"]["all"]["acc"] == pytest.approx(metrics["val/demo_real/acc"])
    assert any("mr_mp" in note for note in demo["notes"])  # the demo's faces carry no landmarks


@pytest.mark.slow
def test_checkpoint_loads_weights_only_and_embeds_like_the_module(checkpoint):
    module = load_checkpoint(checkpoint)
    assert not module.training and module.hparams.image_size == 32
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    embedder = ModuleEmbedder(module)
    assert torch.allclose(embedder.embed(images), module.embed(images))


@pytest.mark.slow
def test_flip_tta_makes_embeddings_mirror_invariant(checkpoint):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    both = np.concatenate([images, images[:, :, ::-1]])
    with_flip = ModuleEmbedder.from_checkpoint(checkpoint, flip=True, device="cpu")
    without = ModuleEmbedder.from_checkpoint(checkpoint, flip=False, device="cpu")
    assert with_flip.fingerprint != without.fingerprint
    on = compute_embeddings(both, with_flip, num_workers=0).values
    off = compute_embeddings(both, without, num_workers=0).values
    # f(x) + f(mirror x) is the same for x and its mirror; f(x) alone is not (barely, two steps into training)
    gap_on, gap_off = np.abs(on[:2] - on[2:]).max(), np.abs(off[:2] - off[2:]).max()
    assert gap_on < 1e-5 and gap_off > 10 * gap_on


def test_files_that_are_not_mfr_checkpoints(tmp_path):
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="notes.ckpt: not a PyTorch checkpoint"):
        load_checkpoint(text)
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}, "epoch": 3}, other)
    with pytest.raises(CheckpointError, match="not an mfr checkpoint"):
        load_checkpoint(other)
    code = tmp_path / "code.ckpt"
    with open(code, "wb") as f:
        pickle.dump({"state_dict": np.zeros(2)}, f)  # numpy's classes: refused by weights-only loading
    with pytest.raises(CheckpointError, match="code.ckpt: not a PyTorch checkpoint that loads weights-only"):
        load_checkpoint(code)
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.ckpt")


@pytest.mark.slow
def test_evaluate_writes_table_json_and_plots(checkpoint, tmp_path, capsys):
    from mfr.eval.run import evaluate

    root = write_mfr2(tmp_path / "mfr2", identities=6, images_per_identity=4, pairs=60, seed=2)
    out = tmp_path / "eval"
    cfg = eval_config([f"ckpt_path={checkpoint}", "data=mfr2", f"data.root={root}", "embedding.num_workers=0"], out)
    payload = evaluate(cfg)
    printed = capsys.readouterr().out
    assert (
        "UMR-MP: masked vs unmasked" in printed
        and "MR-MP" in printed
        and "probe mask" in printed
        and "rank-1" in printed
    )
    saved = json.loads((out / "results.json").read_text())
    mfr2 = saved["sets"]["mfr2"]
    assert mfr2["pairs"] == 60 and set(mfr2["protocols"]) >= {"all", "umr_mp", "mr_mp"}
    assert saved["model"]["checkpoint"] == str(checkpoint.resolve()) and payload["sets"]["mfr2"]["pairs"] == 60
    assert (out / "plots" / "mfr2_roc.png").is_file() and (out / "plots" / "mfr2_cmc.png").is_file()
    assert "eval/mfr2/umr_mp/acc" in (out / "csv" / "version_0" / "metrics.csv").read_text()
    # the second run reads both embedding sets from the cache
    evaluate(cfg)
    again = json.loads((out / "results.json").read_text())["sets"]["mfr2"]
    assert again["embedding"]["cached"] and again["mr_mp"]["embedding"]["cached"]
    assert again["protocols"]["all"]["acc"] == mfr2["protocols"]["all"]["acc"]


def test_a_bad_checkpoint_is_one_line_not_a_traceback(tmp_path, capsys):
    from mfr.cli import one_line_errors
    from mfr.eval.run import evaluate

    bad = tmp_path / "bad.ckpt"
    bad.write_text("hello")
    cfg = eval_config([f"ckpt_path={bad}", "data=mfr2"], tmp_path)
    with pytest.raises(SystemExit) as exit_info, one_line_errors():  # what python -m mfr.evaluate wraps evaluate in
        evaluate(cfg)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"error: ckpt_path={bad}: not a PyTorch checkpoint that loads weights-only (")
        and err.count("\n") == 1
    )
