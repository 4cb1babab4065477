"""Where the refinement layer looks: its self-attention as a heat map over each face (the paper's activation regions).

The map of a face is the attention each feature-map location receives, averaged over all query
locations (the column means of the N x N attention matrix), upsampled onto the image. On a face and
its masked twin the attention-score loss pulls the two maps together; on real masked faces the map
shows whether the model looks past the mask, to the eyes and brows.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from mfr.viz.figures import plt


@torch.no_grad()
def attention_maps(module, images: np.ndarray) -> np.ndarray | None:
    """(n, h, w) attention received per feature-map location for (n, S, S, 3) uint8 faces; None without refinement."""
    embedder = module.embedder
    if not embedder.refine:
        return None
    was_training = module.training
    module.eval()
    try:
        device = next(module.parameters()).device
        x = module.normalise(torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(device))
        _, attention = embedder(x)
    finally:
        module.train(was_training)
    h, w = embedder.spatial
    return attention.float().mean(dim=1).reshape(-1, h, w).cpu().numpy()


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """A (S, S, 3) uint8 face with an (h, w) map upsampled onto it in the jet colour map, min-max scaled."""
    size = image.shape[0]
    heat = cv2.resize(heat.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    heat = (heat - heat.min()) / (np.ptp(heat) + 1e-12)
    colour = plt.get_cmap("jet")(heat)[..., :3] * 255
    return ((1 - alpha) * image + alpha * colour).astype(np.uint8)


def attention_figure(module, faces: dict[str, np.ndarray], title: str = ""):
    """A panel: for each kind of face (unmasked, synthetic masked, real masked) a column of faces beside their
    attention overlays, one row per sample (one image per kind: quick enough to draw every validation).
    None when the model has no refinement layer."""
    maps = {kind: attention_maps(module, images) for kind, images in faces.items()}
    if any(m is None for m in maps.values()):
        return None
    fig, axes = plt.subplots(1, len(faces), figsize=(2.4 * len(faces), 1.2 * max(map(len, faces.values())) + 0.6), squeeze=False)
    for ax, (kind, images) in zip(axes[0], faces.items()):
        rows = [np.concatenate([face, overlay(face, heat)], axis=1) for face, heat in zip(images, maps[kind])]
        ax.imshow(np.concatenate(rows, axis=0))
        ax.set_title(f"{kind} | attention", fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
