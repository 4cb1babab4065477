"""The domain adaptation layer: gradient reversal, then a linear mask classifier (unmasked 0 / masked 1).

Trained to tell masked from unmasked embeddings while the reversed gradient pushes the embedder to
make them indistinguishable, i.e. mask-invariant. By default it sees the L2-normalised embedding,
the representation verification compares: that is where invariance matters, and it keeps a large
lambda (the paper's 100) from winning the game by inflating feature norms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mfr.models.grl import GradientReversal


class MaskDiscriminator(nn.Module):
    def __init__(self, embedding_size: int = 512, hidden: int = 0, normalize: bool = True):
        super().__init__()
        self.grl = GradientReversal()
        self.normalize = normalize
        layers: list[nn.Module] = []
        if hidden:
            layers += [nn.Linear(embedding_size, hidden), nn.ReLU(inplace=True)]
        layers.append(nn.Linear(hidden or embedding_size, 2))
        self.classifier = nn.Sequential(*layers)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        x = self.grl(embeddings.float())
        return self.classifier(F.normalize(x, dim=1) if self.normalize else x)
