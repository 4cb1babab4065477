"""The attention-score loss: masked twins should attend where their unmasked originals attend."""

from __future__ import annotations

import torch


def attention_score_loss(unmasked: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """L_a = (1/B) sum_i ||A(x_i) - A(x^_i)||_F over attention maps of shape (B, N, N)."""
    diff = (unmasked.float() - masked.float()).flatten(1)
    return diff.norm(dim=1).mean()
