"""Build everything a run needs from its Hydra config, train, and report the final metrics."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.loggers import WandbLogger

from mask_synth.dataset import write_atomic
from mfr.comparators.srt import teacher_stage
from mfr.config import check_train_config
from mfr.eval.callback import VerificationCallback
from mfr.methods import module_class
from mfr.models.attention_stats import collapse_warning
from mfr.sweep import label_loggers

log = logging.getLogger(__name__)


def uses_gpu(trainer_cfg: dict) -> bool:
    """Whether the trainer will run on a GPU: accelerator gpu/cuda, or auto with one present."""
    return trainer_cfg.get("accelerator") in ("gpu", "cuda") or (
        trainer_cfg.get("accelerator") == "auto" and torch.cuda.is_available()
    )


def resolve_for_device(trainer_cfg: dict) -> dict:
    """precision=auto becomes bf16 mixed precision on a GPU and fp32 on a CPU; SyncBatchNorm, which
    only exists for GPUs, is dropped on a CPU (so trainer=ddp also runs as CPU processes over gloo)."""
    on_gpu = uses_gpu(trainer_cfg)
    if trainer_cfg.get("precision") == "auto":
        trainer_cfg["precision"] = "bf16-mixed" if on_gpu else "32-true"
    if not on_gpu:
        trainer_cfg["sync_batchnorm"] = False
    return trainer_cfg


def resolve_callbacks_for_device(callbacks_cfg: dict, on_gpu: bool) -> dict:
    """progress_bar.refresh_rate=auto: every 10 steps on a CPU, every 100 on a GPU, where each refresh reads the
    logged losses back to the host and so makes it wait for the GPU to finish the step."""
    bar = callbacks_cfg.get("progress_bar")
    if bar and bar.get("refresh_rate") == "auto":
        bar["refresh_rate"] = 100 if on_gpu else 10
    return callbacks_cfg


def instantiate_all(group: DictConfig | dict | None) -> list:
    """Instantiate every entry of a dict-of-configs group (callbacks, logger); none for an empty group."""
    if not group:
        return []
    return [hydra.utils.instantiate(c) for c in group.values() if c is not None and "_target_" in c]


def module_settings(cfg: DictConfig) -> dict:
    """The module's settings as plain containers, so checkpoints load with torch.load(weights_only=True)."""
    return {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("model", "head", "optim")}


def build_module(cfg: DictConfig, num_classes: int) -> pl.LightningModule:
    """The LightningModule `model.method` names (mfr.methods), built from the run's settings."""
    module = module_class(cfg.model)(num_classes=num_classes, image_size=cfg.data.image_size, **module_settings(cfg))
    if cfg.model.get("compile"):
        module.embedder.compile()  # in place: checkpoint keys stay the same with or without compile
    return module


def train(cfg: DictConfig) -> dict:
    """Train; return the final validation metrics (also written to <output_dir>/metrics.json)."""
    started = time.time()
    check_train_config(cfg)  # a bad value fails now, not after the data is ready (mfr.fit checked it already)
    teacher = train_teacher(cfg)
    trainer, module, trainer_cfg, metrics = fit(cfg)
    ckpt = trainer.checkpoint_callback
    summary = {
        "metrics": metrics,
        "wall_time_s": round(time.time() - started, 1),
        "global_step": trainer.global_step,
        "best_checkpoint": getattr(ckpt, "best_model_path", "") or None,
        "device": str(module.device),
        "precision": trainer_cfg["precision"],
        **({"teacher": teacher} if teacher else {}),
    }
    if trainer.is_global_zero:
        write_atomic(Path(cfg.paths.output_dir) / "metrics.json", json.dumps(summary, indent=2))
        report(cfg, summary)
    return metrics


def train_teacher(cfg: DictConfig) -> dict | None:
    """Stage 1 of an SRT job without model.teacher_ckpt: train its frozen face model (mfr.comparators.srt.teacher_stage)
    into <output_dir>/teacher, save it as teacher.ckpt there and point model.teacher_ckpt at it. Returns what stage 1
    gave (checkpoint, steps, final metrics) for the run's summary; None when the job has no stage 1."""
    stage = teacher_stage(cfg)
    if stage is None:
        return None
    log.info("stage 1: training the face model SRT builds on, into %s", stage.paths.output_dir)
    trainer, _, _, metrics = fit(stage)
    path = Path(stage.paths.output_dir) / "teacher.ckpt"
    trainer.save_checkpoint(path)  # the final weights, whatever checkpoint callbacks the config has
    with open_dict(cfg):
        cfg.model.teacher_ckpt = str(path)
    return {"checkpoint": str(path), "global_step": trainer.global_step, "metrics": metrics}


def fit(cfg: DictConfig) -> tuple[pl.Trainer, pl.LightningModule, dict, dict]:
    """Data, module, loggers and trainer from the config; fit; validate the final weights. Returns (trainer, module,
    the trainer's resolved settings, the final val/ metrics)."""
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    module = build_module(cfg, datamodule.num_classes)
    label_loggers(cfg)
    loggers = instantiate_all(cfg.get("logger"))
    trainer_cfg = resolve_for_device(OmegaConf.to_container(cfg.trainer, resolve=True))
    callbacks_cfg = OmegaConf.to_container(cfg.callbacks, resolve=True) if cfg.get("callbacks") else {}
    callbacks = instantiate_all(resolve_callbacks_for_device(callbacks_cfg, uses_gpu(trainer_cfg)))
    trainer = hydra.utils.instantiate(trainer_cfg, callbacks=callbacks, logger=loggers or False)
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    verification = next((c for c in trainer.callbacks if isinstance(c, VerificationCallback)), None)
    if verification is not None and verification.validated_at_step != trainer.global_step:
        trainer.validate(module, datamodule=datamodule, verbose=False)  # training stopped between validations

    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    finish_wandb(loggers)
    return trainer, module, trainer_cfg, metrics


def finish_wandb(loggers: list) -> None:
    """End the W&B run: the next run of a multirun, in this same process, would otherwise log into it."""
    if any(isinstance(lg, WandbLogger) for lg in loggers):
        import wandb

        wandb.finish()


def report(cfg: DictConfig, summary: dict) -> None:
    lines = [
        f"mfr.fit finished in {summary['wall_time_s']:.0f}s, {summary['global_step']} steps on {summary['device']}"
    ]
    for key in sorted(summary["metrics"]):
        if key.endswith("/acc") and key.count("/") == 2:  # val/<set>/acc: each set's headline, not its protocols
            std = summary["metrics"].get(key + "_std", float("nan"))
            lines.append(
                f"  {key:<28} {summary['metrics'][key]:.4f} ± {std:.4f}  (verification accuracy, ± over its folds)"
            )
    teacher = summary.get("teacher", {}).get("metrics", {})
    for key in sorted(k for k in teacher if k.endswith("/acc") and k.count("/") == 2):
        lines.append(f"  {key:<28} {teacher[key]:.4f}           (the frozen face model of stage 1, without the EUM)")
    lines += attention_summary(summary["metrics"])
    if "DemoDataModule" in str(cfg.data.get("_target_", "")):
        lines.append("  (data=demo: SYNTHETIC demo faces of held-out identities, not a real benchmark)")
    lines.append(f"  best checkpoint: {summary['best_checkpoint']}")
    lines.append(f"  outputs: {cfg.paths.output_dir}")
    print("\n".join(lines), flush=True)


def attention_summary(metrics: dict[str, float]) -> list[str]:
    """The refinement attention's health from the last validation's `val/attention/*` figures (eval mode, sample
    faces), with a warning if it has collapsed; nothing for a model without refinement."""
    stats = {k.removeprefix("val/attention/"): v for k, v in metrics.items() if k.startswith("val/attention/")}
    if "entropy" not in stats:
        return []
    lines = [
        f"  attention: row entropy {stats['entropy']:.3f} nats, top share {stats['top_share']:.3f}, "
        f"input dependence {stats['input_dependence']:.3f}, gamma {stats['gamma']:.3f}"
        + (f", on the sink {stats['sink_share']:.3f}" if "sink_share" in stats else "")
    ]
    if "mask_share_masked" in stats:
        lines.append(
            f"  attention on mask cells: {stats['mask_share_masked']:.3f} for masked twins vs "
            f"{stats['mask_share_unmasked']:.3f} for their unmasked originals (uniform attention: {stats['mask_area']:.3f})"
        )
    warning = collapse_warning(stats)
    return lines + ([f"  {warning}"] if warning else [])
