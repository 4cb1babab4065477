"""FocusFace (Neto, Boutros, Pinto, Damer, Sequeira, Cardoso, "FocusFace: Multi-task Contrastive Learning for Masked
Face Recognition", FG 2021, arXiv:2110.14940): one network, two heads, trained on each face x and its masked twin x^m.

The trunk's feature map feeds
- the identity head: e1 = BN(W1 f), the 512-d embedding that is compared (mfr's plain face output layer: the
  paper's 7x7 conv over the 7x7 map is this linear map of the flattened map), trained by ArcFace;
- the mask head: e2 = ReLU6(BN(W2 f)), a 32-d embedding, then a linear layer to unmasked/masked logits.

The loss, with the weights of the authors' released code (NetoPedro/FocusFace, trainer.py):

    L = (L_arc(e1(x), y) + L_arc(e1(x^m), y)) / 2              identity, on both images
      + lambda (CE(m(x), 0) + CE(m(x^m), 1)) / 2                mask detection, lambda = 0.1
      + mu MSE(e1(x), e1(x^m))                                  the contrastive term, mu = 1/3

The paper's text (its equation numbers) could not be read where this was written; the formula above is what the
released code computes, with one deliberate difference: that code zeroes the unmasked image's mask logits
(`criterion(mask * 0, labels)`), a constant term that trains nothing, so its mask head only ever sees masked
images. Here both images train the mask head with their true labels, which a mask detector needs.
Evaluation embeds with e1 alone, as the authors' test code does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mfr.module import MaskedFaceModule


class MaskHead(nn.Module):
    """FocusFace's second head: feature map (B,C,H,W) -> e2 = ReLU6(BN(Linear(flatten))) -> (B, 2) logits (unmasked, masked)."""

    def __init__(self, channels: int, spatial: tuple[int, int], embedding_size: int = 32):
        super().__init__()
        self.embedding = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * spatial[0] * spatial[1], embedding_size, bias=False),
            nn.BatchNorm1d(embedding_size),
            nn.ReLU6(),
        )
        self.classifier = nn.Linear(embedding_size, 2)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embedding(fmap))


class FocusFaceModule(MaskedFaceModule):
    """The mfr module with refinement and DA off (its embedder is FocusFace's trunk and identity head), plus the mask
    head, and FocusFace's loss in place of mfr's. Embedding, validation, logging and optimisation are mfr's."""

    def __init__(self, num_classes: int, model: dict, head: dict, optim: dict, image_size: int = 112):
        super().__init__(num_classes, model, head, optim, image_size)  # checks FocusFace's settings (mfr.config)
        focus = model["focusface"]
        self.mask_head = MaskHead(self.embedder.backbone.channels, self.embedder.spatial, focus["mask_embedding_size"])
        self.mask_weight, self.contrastive_weight = focus["mask_weight"], focus["contrastive_weight"]

    def losses(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The total loss and its terms (module docstring) from one batch of faces and their masked twins."""
        source = batch["source"]
        ids = source["identity"]
        n = ids.shape[0]
        fmap = self.embedder.backbone(self.normalise(torch.cat([source["image"], source["masked"]])))
        e1 = self.embedder.output(fmap)  # rows :n the faces, n: their twins
        mask_logits = self.mask_head(fmap)

        labels = ids.repeat(2)
        logits = self.head(e1, labels)
        mask_labels = torch.cat([torch.zeros_like(ids), torch.ones_like(ids)])
        terms = {
            "id": F.cross_entropy(logits, labels),  # the mean over both halves: (L_arc(x) + L_arc(x^m)) / 2
            "mask": F.cross_entropy(mask_logits.float(), mask_labels),
            "contrastive": F.mse_loss(e1[:n].float(), e1[n:].float()),
            "acc_id": (logits.argmax(1) == labels).float().mean().detach(),
            "acc_mask": (mask_logits.argmax(1) == mask_labels).float().mean().detach(),
        }
        loss = terms["id"] + self.mask_weight * terms["mask"] + self.contrastive_weight * terms["contrastive"]
        return loss, terms
