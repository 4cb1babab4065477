"""The attention-score loss: masked twins should attend where their unmasked originals attend.

The paper's L_a compares the two N x N attention maps of a face and its synthetic masked twin. Both
maps being free, L_a has a trivial minimiser: attention that ignores its input (every face the same
map) makes every pair equal. `target="unmasked"` reads the loss as the paper motivates it (the
masked face's attention is pulled towards the unmasked one's), with the unmasked map a fixed target
(no gradient), so L_a cannot move the unmasked attention; the identity loss alone shapes it, and
L_a pulls each twin's attention towards it. Measured on the demo (README, "The refinement layer's
attention"): with the gradient into both maps the attention drifts to one map for every face.
"""

from __future__ import annotations

import torch

from mfr.config import ATTENTION_TARGETS
from mfr.errors import ConfigError


def attention_score_loss(unmasked: torch.Tensor, masked: torch.Tensor, target: str = "both") -> torch.Tensor:
    """L_a = (1/B) sum_i ||A(x_i) - A(x^_i)||_F over attention maps of shape (B, N, N).

    target="both": the gradient reaches both maps (the loss as written); "unmasked": the unmasked map
    is the target, detached.
    """
    if target not in ATTENTION_TARGETS:
        raise ConfigError(f"model.loss.attention_target={target!r}; allowed: {', '.join(ATTENTION_TARGETS)}")
    if target == "unmasked":
        unmasked = unmasked.detach()
    diff = (unmasked.float() - masked.float()).flatten(1)
    return diff.norm(dim=1).mean()
