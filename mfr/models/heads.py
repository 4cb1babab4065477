"""Identity heads: normalised-softmax logits with an angular or additive margin on the target class.

Every head holds one weight row per class (K rows per class for sub-center ArcFace) and returns
s * (cos(theta_j) with the target class's cosine replaced by its margin version), ready for
cross-entropy. ArcFace follows insightface's combined-margin form, whose fallback keeps the target
logit monotonic in theta when theta + m > pi.

`margin_factor` in [0, 1] blends each head between plain normalised softmax (0) and its full margin
(1): training from scratch on little data stalls behind a full margin (every target logit starts far
below the others), so the module can ramp the margin in over the first part of training.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import distributed as dist
from torch import nn

from mfr.errors import ConfigError


class MarginHead(nn.Module):
    """Cosine classifier; subclasses change the target-class logit in `margin`.

    `margin_limit`: a head with a margin m takes m in [0, margin_limit); at the limit a face lying on its class
    centre scores no higher than a class it is orthogonal to, so the target class can never win (mfr.config).

    `cosine` and `margin` get fp32 embeddings and run with autocast off, whatever the training precision.
    """

    margin_limit: float | None = None

    def __init__(self, embedding_size: int, num_classes: int, scale: float = 64.0, sub_centers: int = 1):
        super().__init__()
        self.num_classes, self.scale, self.sub_centers = num_classes, scale, sub_centers
        self.weight = nn.Parameter(torch.empty(num_classes * sub_centers, embedding_size))
        nn.init.normal_(self.weight, std=0.01)
        self.margin_factor = 1.0

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        cos = F.linear(F.normalize(embeddings), F.normalize(self.weight.float()))
        if self.sub_centers > 1:  # each class's cosine is its nearest sub-center's
            cos = cos.view(-1, self.num_classes, self.sub_centers).amax(dim=2)
        return cos.clamp(-1.0, 1.0)

    def margin(self, target_cos: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        return target_cos

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # fp32 with autocast off: under bf16 autocast F.linear would round every cosine to 8 significant
        # bits (logit errors up to ~0.25 at s=64), and the target-logit write needs one dtype throughout
        with torch.autocast(embeddings.device.type, enabled=False):
            embeddings = embeddings.float()
            cos = self.cosine(embeddings)
            rows = torch.arange(cos.shape[0], device=cos.device)
            target_cos = cos[rows, labels]
            target = self.margin(target_cos, embeddings)
            if self.margin_factor < 1.0:
                target = target_cos + self.margin_factor * (target - target_cos)
            logits = cos.index_put((rows, labels), target)
            return logits * self.scale


class NormSoftmax(MarginHead):
    """s * cos(theta): normalised softmax, no margin."""


class CosFace(MarginHead):
    """s * (cos(theta) - m) for the target class (Wang et al., 2018)."""

    margin_limit = 1.0  # cos(0) - m = 0

    def __init__(self, embedding_size: int, num_classes: int, scale: float = 64.0, margin: float = 0.35):
        super().__init__(embedding_size, num_classes, scale)
        self.m = margin

    def margin(self, target_cos, embeddings):
        return target_cos - self.m


class ArcFace(MarginHead):
    """s * cos(theta + m) for the target class (Deng et al., 2019).

    When theta + m > pi, cos(theta + m) would start rising again as theta grows; there the target
    logit becomes cos(theta) - m * sin(m), which continues it smoothly and keeps it decreasing.
    """

    margin_limit = math.pi / 2  # cos(0 + m) = 0

    def __init__(
        self, embedding_size: int, num_classes: int, scale: float = 64.0, margin: float = 0.5, sub_centers: int = 1
    ):
        super().__init__(embedding_size, num_classes, scale, sub_centers)
        self.m = margin
        self.threshold = math.cos(math.pi - margin)  # cos(theta) below this means theta + m > pi

    def margin(self, target_cos, embeddings):
        sin = torch.sqrt((1.0 - target_cos**2).clamp_min(0.0))
        with_margin = target_cos * math.cos(self.m) - sin * math.sin(self.m)
        return torch.where(target_cos > self.threshold, with_margin, target_cos - self.m * math.sin(self.m))


class SubCenterArcFace(ArcFace):
    """ArcFace with K sub-centers per class; a class's cosine is its closest sub-center's (Deng et al., 2020)."""

    def __init__(
        self, embedding_size: int, num_classes: int, scale: float = 64.0, margin: float = 0.5, sub_centers: int = 3
    ):
        super().__init__(embedding_size, num_classes, scale, margin, sub_centers)


class AdaFace(MarginHead):
    """Margin adapted to image quality through the feature norm (Kim et al., 2022).

    z = clip((||f|| - mu) / (sigma + eps) * h, -1, 1), with mu and sigma running means (momentum
    `momentum`) of the batch's norm statistics, over the global batch of all ranks under DDP. The
    target logit is cos(clip(theta - m*z, eps, pi - eps)) - (m*z + m). The running statistics are
    buffers, so checkpoints carry them.
    """

    margin_limit = 0.5  # a high-quality face (z = 1) on its centre scores cos(~0) - 2m = 0

    def __init__(
        self,
        embedding_size: int,
        num_classes: int,
        scale: float = 64.0,
        margin: float = 0.4,
        h: float = 0.333,
        momentum: float = 0.01,
        eps: float = 1e-3,
    ):
        super().__init__(embedding_size, num_classes, scale)
        self.m, self.h, self.momentum, self.eps = margin, h, momentum, eps
        self.register_buffer("norm_mean", torch.tensor(20.0))
        self.register_buffer("norm_std", torch.tensor(100.0))

    @torch.no_grad()
    def _update_norm_stats(self, norms: torch.Tensor) -> None:
        """Move the running statistics towards the mean and unbiased std of the norms of every rank's batch.

        Ranks add up their count, sum and sum of squares (in fp64, so the squares do not cancel), which gives
        the statistics of the global batch; an average of per-rank stds would miss the spread between ranks.
        """
        norms = norms.double()
        sums = torch.stack(
            [norms.new_full((), norms.numel()), norms.sum(), norms.square().sum()]
        )  # a fill: no copy, no sync
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(sums)
        count, total, squares = sums
        mean = total / count
        variance = (squares - count * mean**2) / (count - 1).clamp_min(1)  # one norm: 0, without a host sync
        self.norm_mean.lerp_(mean.to(self.norm_mean.dtype), self.momentum)
        self.norm_std.lerp_(variance.clamp_min(0).sqrt().to(self.norm_std.dtype), self.momentum)

    def margin(self, target_cos, embeddings):
        norms = embeddings.norm(dim=1).clamp(0.001, 100.0).detach()
        if self.training:
            self._update_norm_stats(norms)
        z = ((norms - self.norm_mean) / (self.norm_std + self.eps) * self.h).clamp(-1.0, 1.0)
        theta = torch.acos(target_cos.clamp(-1 + 1e-7, 1 - 1e-7))
        theta = (theta - self.m * z).clamp(self.eps, math.pi - self.eps)
        return torch.cos(theta) - (self.m * z + self.m)


HEADS = {
    "arcface": ArcFace,
    "cosface": CosFace,
    "adaface": AdaFace,
    "subcenter_arcface": SubCenterArcFace,
    "softmax": NormSoftmax,
}


def head_class(name: str, key: str = "head.name") -> type[MarginHead]:
    if name not in HEADS:
        raise ConfigError(f"{key}={name!r} is not a head; allowed: {', '.join(HEADS)}")
    return HEADS[name]


def build_head(name: str, embedding_size: int, num_classes: int, **kwargs) -> MarginHead:
    return head_class(name)(embedding_size, num_classes, **kwargs)
