"""The model's loss terms, each written once; `MaskedFaceModule.losses` (mfr/module.py) weighs and sums them:

    L = L_id + w_a * L_a + w_m * L_m,   L_m = L_m^s + real_weight * L_m^r

- L_id, `identity_loss`: cross-entropy over the margin head's logits; the margins themselves (ArcFace,
  CosFace, AdaFace, ...) are in mfr/models/heads.py.
- L_a, `attention_score_loss`: masked twins should attend where their unmasked originals attend.
- L_m, `synthetic_mask_loss` (L_m^s) and `real_mask_loss` (L_m^r): the mask discriminator's
  cross-entropy, behind the gradient reversal layer (mfr/models/discriminator.py, grl.py).
The comparators (mfr/comparators/) keep their own losses beside their methods.

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
import torch.nn.functional as F

from mfr.config import ATTENTION_TARGETS
from mfr.errors import ConfigError


def attention_score_loss(unmasked: torch.Tensor, masked: torch.Tensor, target: str = "both") -> torch.Tensor:
    """L_a = (1/B) sum_i ||A(x_i) - A(x^_i)||_F over attention maps of shape (B, N, N), or (B, N, N + 1) with a sink.

    target="both": the gradient reaches both maps (the loss as written); "unmasked": the unmasked map
    is the target, detached.
    """
    if target not in ATTENTION_TARGETS:
        raise ConfigError(f"model.loss.attention_target={target!r}; allowed: {', '.join(ATTENTION_TARGETS)}")
    if target == "unmasked":
        unmasked = unmasked.detach()
    diff = (unmasked.float() - masked.float()).flatten(1)
    return diff.norm(dim=1).mean()


def identity_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_id: the mean cross-entropy of the margin head's logits (the margin is applied by the head)."""
    return F.cross_entropy(logits, labels)


def synthetic_mask_loss(logits: torch.Tensor) -> torch.Tensor:
    """L_m^s over B synthetic pairs: logits of the B unmasked faces (label 0), then of their B masked twins (label 1).

    The two terms of a pair are summed and the pairs averaged (2 x the mean cross-entropy of the 2B images), so a
    synthetic image weighs 1/B, as a real one weighs real_weight/B_t in L_m^r.
    """
    n = logits.shape[0] // 2
    labels = torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)]).to(logits.device)
    return 2.0 * F.cross_entropy(logits, labels)


def real_mask_loss(logits: torch.Tensor, mask_labels: torch.Tensor) -> torch.Tensor:
    """L_m^r: the mean cross-entropy of the discriminator on the B_t real target images, against their mask labels."""
    return F.cross_entropy(logits, mask_labels)
