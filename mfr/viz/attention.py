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

from mfr.models.attention_stats import attention_stats, lower_face_cells, mask_cells, mask_shares, received
from mfr.viz.figures import plt
from mfr.viz.samples import REAL, SYNTHETIC, UNMASKED, pick_faces


@torch.no_grad()
def attention_matrices(module, images: np.ndarray) -> torch.Tensor | None:
    """(n, N, N) fp32 attention of the refinement layer (eval mode) for (n, S, S, 3) uint8 faces; None without refinement."""
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
    return attention.float()


def attention_maps(module, images: np.ndarray) -> np.ndarray | None:
    """(n, h, w) attention received per feature-map location for (n, S, S, 3) uint8 faces; None without refinement."""
    attention = attention_matrices(module, images)
    if attention is None:
        return None
    h, w = module.embedder.spatial
    return received(attention).reshape(-1, h, w).cpu().numpy()


def face_attention_stats(module, faces: dict[str, np.ndarray]) -> dict[str, float]:
    """The attention statistics of `mfr.models.attention_stats` on sample faces, in eval mode.

    Per kind of face (`unmasked`, `synthetic`, `real`): entropy, top share, input dependence and the
    lower-face share; over all the faces together the first three without a prefix, plus gamma and (with
    twins) the mask shares of the twins and their originals. Empty without refinement.
    """
    matrices = {kind: attention_matrices(module, images) for kind, images in faces.items() if len(images)}
    if not matrices or any(m is None for m in matrices.values()):
        return {}
    stats = {}
    lower = lower_face_cells(module.embedder.spatial)
    for kind, attention in matrices.items():
        prefix = kind.split()[0]
        stats.update({f"{prefix}/{k}": float(v) for k, v in attention_stats(attention).items()})
        stats[f"{prefix}/lower_face_share"] = float((received(attention).cpu() * lower).sum(1).mean())
    stats.update({k: float(v) for k, v in attention_stats(torch.cat(list(matrices.values()))).items()})
    stats["gamma"] = module.embedder.output.attention.gamma.item()
    if SYNTHETIC in matrices:
        to_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)  # noqa: E731
        cells = mask_cells(to_tensor(faces[UNMASKED]), to_tensor(faces[SYNTHETIC]), module.embedder.spatial)
        shares = mask_shares(matrices[UNMASKED].cpu(), matrices[SYNTHETIC].cpu(), cells)
        stats.update({k: float(v) for k, v in shares.items()})
    return stats


def set_attention_stats(module, vset, count: int = 64) -> dict[str, float]:
    """`face_attention_stats` on up to `count` unmasked and `count` masked faces of a verification set (masked
    ones as `real`, by the set's `masked` labels; all its faces as `unmasked` when it has none)."""
    size = int(module.hparams.image_size)
    masked = np.asarray(vset.meta["masked"]) == 1 if "masked" in vset.meta else np.zeros(len(vset.images), bool)
    faces = {
        UNMASKED: pick_faces(vset.images, count, size, ~masked),
        REAL: pick_faces(vset.images, count, size, masked),
    }
    return face_attention_stats(module, faces)


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
    Each overlay is min-max scaled, so each is labelled with its peak as a multiple of uniform attention
    (1.0x: flat): a nearly flat map must not pass for a focused one. None without a refinement layer."""
    maps = {kind: attention_maps(module, images) for kind, images in faces.items()}
    if any(m is None for m in maps.values()):
        return None
    fig, axes = plt.subplots(
        1, len(faces), figsize=(2.4 * len(faces), 1.2 * max(map(len, faces.values())) + 0.6), squeeze=False
    )
    for ax, (kind, images) in zip(axes[0], faces.items()):
        rows = [np.concatenate([face, overlay(face, heat)], axis=1) for face, heat in zip(images, maps[kind])]
        ax.imshow(np.concatenate(rows, axis=0))
        size = images.shape[1]
        for r, heat in enumerate(maps[kind]):
            ax.text(
                size + 1,
                r * size + 1,
                f"peak {heat.max() * heat.size:.1f}x",
                fontsize=5,
                color="white",
                va="top",
                bbox={"facecolor": "black", "alpha": 0.5, "pad": 1, "linewidth": 0},
            )
        ax.set_title(f"{kind} | attention", fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
