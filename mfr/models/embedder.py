"""Images -> 512-d face embeddings: backbone, neck, then the refinement layer or the plain output layer.

This is the part a checkpoint is evaluated with; the heads and the discriminator only train it.
"""

from __future__ import annotations

import torch
from torch import nn

from mfr.models.backbone import Backbone
from mfr.models.refine import FaceOutput, FeatureRefinement


class FaceEmbedder(nn.Module):
    def __init__(
        self,
        backbone: dict,
        image_size: int = 112,
        embedding_size: int = 512,
        dropout: float = 0.0,
        refine: dict | None = None,
    ):
        """`refine`: the self-attention's options (see `SelfAttention2d`) for the refinement layer, None for the
        plain face output layer."""
        super().__init__()
        self.backbone = Backbone(**backbone)
        self.image_size = image_size
        self.spatial = self.backbone.map_size(image_size)
        channels = self.backbone.channels
        self.refine = refine is not None
        self.output = (
            FeatureRefinement(channels, self.spatial, embedding_size, dropout, **refine)
            if self.refine
            else FaceOutput(channels, self.spatial, embedding_size, dropout)
        )

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B,3,S,S) normalised images -> (embeddings (B,E), attention (B,N,N) or None without refinement)."""
        fmap = self.backbone(images)
        if self.refine:
            return self.output(fmap)
        return self.output(fmap), None
