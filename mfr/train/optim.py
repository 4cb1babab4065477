"""Optimizer and per-step learning-rate schedule from config (SGD as insightface trains, or AdamW)."""

from __future__ import annotations

import math

import torch

from mfr.config import OPTIMIZERS, SCHEDULES
from mfr.errors import ConfigError


def build_optimizer(
    params,
    name: str = "sgd",
    lr: float = 0.1,
    weight_decay: float = 5e-4,
    momentum: float = 0.9,
    fused: bool | None = None,
) -> torch.optim.Optimizer:
    """`fused=None` uses the fused CUDA kernels when the parameters live on a GPU."""
    params = [p for p in params if p.requires_grad]
    if fused is None:
        fused = all(p.is_cuda for p in params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, fused=fused or None)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
    raise ConfigError(f"optim.optimizer.name={name!r}; allowed: {', '.join(OPTIMIZERS)}")


def lr_factor(step: int, total: int, name: str, warmup_steps: int, min_factor: float) -> float:
    """Multiplier of the base lr at `step`: linear warm-up, then the named decay to `min_factor`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total - warmup_steps))
    if name == "constant":
        return 1.0
    if name == "cosine":
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))
    if name == "poly":
        return min_factor + (1 - min_factor) * (1 - progress) ** 2
    raise ConfigError(f"optim.scheduler.name={name!r}; allowed: {', '.join(SCHEDULES)}")


def build_scheduler(optimizer, total_steps: int, name: str = "cosine", warmup_steps: int = 0, min_factor: float = 0.0):
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, name, warmup_steps, min_factor)
    )
