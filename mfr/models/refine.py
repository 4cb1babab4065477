"""From the CxHxW feature map to the 512-d face embedding, with or without the refinement layer.

`FaceOutput` is the plain face output layer (BatchNorm, Dropout, Linear, BatchNorm) of ArcFace-style
networks. `FeatureRefinement` puts SAGAN-style self-attention with a learned 2-D positional encoding
in front of it, as the paper (Pattern Recognition 153, 2024) does, so that switching refinement off
removes only the attention.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mfr.config import ATTENTION_LOGITS
from mfr.errors import ConfigError


class FaceOutput(nn.Module):
    """(B,C,H,W) -> (B, embedding_size): BN2d, Dropout, flatten, Linear, BN1d."""

    def __init__(self, channels: int, spatial: tuple[int, int], embedding_size: int = 512, dropout: float = 0.0):
        super().__init__()
        self.layers = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.Dropout(dropout),
            nn.Flatten(),
            nn.Linear(channels * spatial[0] * spatial[1], embedding_size),
            nn.BatchNorm1d(embedding_size),
        )

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.layers(fmap)


class SelfAttention2d(nn.Module):
    """SAGAN self-attention over the N = H*W locations of a feature map.

    Query and key are 1x1 convs to `qk_channels`, the value a 1x1 conv to C; a learned positional
    encoding is added to the map first so attention can tell locations apart (`position=False` leaves
    it out: then only the face's features can place the attention). The output is
    x + gamma * (attention applied to V), with gamma learned from 0 (SAGAN's residual start).

    `sink=True` appends one more key to every row: a learned logit with a zero value (an "attention
    sink", as in softmax-off-by-one and gpt-oss's learned sinks). A row that gains nothing from mixing
    can park its weight there and add nothing. Without it such rows park their weight on one cell, and
    on the demo and real photos that cell is on the picture's border or in a corner (README, "The
    refinement layer's attention").

    `logits="dot"` is SAGAN's (and the paper's) q.k. Nothing bounds it: trained from scratch with SGD it
    grows until every softmax row is one-hot, after which no gradient moves the attention again (the
    demo's attention froze on one corner in ~20 steps). `logits="cosine"` uses temperature * cos(q_i, k_j)
    instead (cosine attention, as in Swin Transformer V2): a row's logits span at most 2 * temperature,
    so a row can focus but never saturate. Logits and maps are computed in fp32 (under bf16 autocast
    too), since the maps are also a loss target.

    Returns (out, attention) where attention is (B, N, N + sink) and row i is the softmax distribution
    of query location i over all keys: A[b, i, j] = how much location i attends to location j (j < N),
    A[b, i, N] what it parks on the sink.
    """

    def __init__(
        self,
        channels: int,
        spatial: tuple[int, int],
        qk_channels: int = 64,
        logits: str = "dot",
        temperature: float = 5.0,
        position: bool = True,
        sink: bool = False,
    ):
        super().__init__()
        if logits not in ATTENTION_LOGITS:
            raise ConfigError(f"model.refine.logits={logits!r}; allowed: {', '.join(ATTENTION_LOGITS)}")
        self.position = nn.Parameter(torch.zeros(1, channels, *spatial)) if position else None
        if position:
            nn.init.trunc_normal_(self.position, std=0.02)
        self.query = nn.Conv2d(channels, qk_channels, 1)
        self.key = nn.Conv2d(channels, qk_channels, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.sink = nn.Parameter(torch.zeros(1)) if sink else None
        self.cosine, self.temperature = logits == "cosine", float(temperature)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        xp = (x if self.position is None else x + self.position).float()
        v = self.value(x).flatten(2)  # (B, C, N)
        with torch.autocast(x.device.type, enabled=False):
            q = self.query(xp).flatten(2).transpose(1, 2)  # (B, N, qk)
            k = self.key(xp).flatten(2)  # (B, qk, N)
            if self.cosine:
                q, k = F.normalize(q, dim=2) * self.temperature, F.normalize(k, dim=1)
            logits = torch.bmm(q, k)  # (B, N, N)
            if self.sink is not None:
                logits = torch.cat([logits, self.sink.float().expand(b, h * w, 1)], dim=2)
            attention = torch.softmax(logits, dim=-1)
        cells = attention[..., : h * w]  # the sink's value is zero: it adds nothing
        out = torch.bmm(v, cells.to(v.dtype).transpose(1, 2)).view(b, c, h, w)  # out[:, :, i] = sum_j A[i, j] v[:, j]
        return x + self.gamma * out, attention


class FeatureRefinement(nn.Module):
    """Self-attention, then the face output layer. forward -> (embedding, attention)."""

    def __init__(
        self, channels: int, spatial: tuple[int, int], embedding_size: int = 512, dropout: float = 0.0, **attention
    ):
        super().__init__()
        self.attention = SelfAttention2d(channels, spatial, **attention)
        self.output = FaceOutput(channels, spatial, embedding_size, dropout)

    def forward(self, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        refined, attention = self.attention(fmap)
        return self.output(refined), attention
