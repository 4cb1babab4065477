"""Gradient reversal (Ganin & Lempitsky, 2015): identity going forward, -lambda * grad coming back."""

from __future__ import annotations

import math

import torch
from torch import nn

from mfr.config import GRL_SCHEDULES
from mfr.errors import ConfigError


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, coeff: float) -> torch.Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.coeff * grad, None


def reverse_grad(x: torch.Tensor, coeff: float) -> torch.Tensor:
    return _ReverseGrad.apply(x, coeff)


class GradientReversal(nn.Module):
    """Holds the current lambda; the LightningModule sets it every step from `grl_lambda`."""

    def __init__(self, coeff: float = 1.0):
        super().__init__()
        self.coeff = coeff

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reverse_grad(x, self.coeff)


def grl_lambda(schedule: str, progress: float, max_lambda: float, gamma: float = 10.0) -> float:
    """lambda at training progress p in [0, 1].

    constant: max_lambda throughout (the paper uses 100).
    dann:     max_lambda * (2 / (1 + exp(-gamma p)) - 1), rising from 0 (Ganin & Lempitsky).
    """
    if schedule == "constant":
        return max_lambda
    if schedule == "dann":
        p = min(max(progress, 0.0), 1.0)
        return max_lambda * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)
    raise ConfigError(f"model.da.schedule={schedule!r}; allowed: {', '.join(GRL_SCHEDULES)}")
