"""Sweep labels: a run of a sweep (experiments/*.yaml) names its W&B group and tags after what the sweep varies.

A sweep config says which keys it varies under short names, `sweep.flags: {refine: model.refine.enabled,
seed: seed}`; each run is then grouped under `sweep.name` and tagged `refine=on`, `seed=1`, ... so the
W&B UI can group and filter runs by the flags that differ without reading their configs.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf, open_dict


def show(value) -> str:
    """A flag's value as a tag reads it: booleans as on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def sweep_labels(cfg: DictConfig) -> dict[str, str]:
    """{short name: value} of every flag the run's sweep varies, e.g. {"refine": "on", "seed": "1"}."""
    flags = OmegaConf.select(cfg, "sweep.flags") or {}
    return {name: show(OmegaConf.select(cfg, key, throw_on_missing=True)) for name, key in flags.items()}


def label_loggers(cfg: DictConfig) -> None:
    """Group a W&B logger by the sweep's name and tag and name its run after the flags (no-op outside a sweep)."""
    wandb = OmegaConf.select(cfg, "logger.wandb")
    name = OmegaConf.select(cfg, "sweep.name")
    if wandb is None or not name:
        return
    labels = [f"{k}={v}" for k, v in sweep_labels(cfg).items()]
    with open_dict(wandb):
        wandb.group = name
        wandb.tags = [*(cfg.get("tags") or []), name, *labels]
        wandb.name = " ".join(labels) or name
