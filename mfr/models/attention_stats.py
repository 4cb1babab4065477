"""Is the refinement attention doing its job? Figures that tell a working attention from a collapsed one.

A SAGAN attention map A (B, N, N) can satisfy the attention-score loss trivially: if every query
of every face puts all its weight on one location, the maps of a face and its twin are equal and
the "refinement" adds one broadcast vector. These statistics catch that and say where attention goes:

- `entropy`: mean entropy of a row of A, in nats (0: one-hot rows; log N: uniform rows);
- `top_share`: mean weight of a row's largest entry (1: one-hot);
- `sink_share`: with a sink (`model.refine.sink`), the mean weight a row parks on it;
- `input_dependence`: how much the attention a location *receives* (the column mean of A, the
  map the paper's figures show) varies across the faces of a batch: N times the mean over
  locations of its standard deviation across faces (0: the same map for every face);
- `mask_share_masked` / `mask_share_unmasked`: the share of the received attention that falls on
  mask cells (each cell weighted by the fraction of its pixels under the mask), for masked twins
  and, on the same cells, for their unmasked originals. A model that has learned to look past the
  mask puts less of it there on the twin (the paper's "upper face" finding); `mask_area` is what a
  uniform attention would put there (the cells' share of the face), the mark both shares are read against;
- `lower_face_share`: the share of the received attention on the cells below the nose tip of the
  ArcFace template, where a mask sits on aligned faces: the same comparison for real masked photos,
  which have no mask map.

Mask cells come from the pixels where a twin differs from its original: mask_synth changes no pixel
outside the mask, and a paired augmentation draws the same flip/crop/colour for both.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mask_synth.template import ARCFACE_5, TEMPLATE_SIZE

# A pixel is a mask pixel when the twin differs from its original by more than this (0-255 scale,
# any channel): well above JPEG re-encoding noise, far below a drawn mask's contrast.
MASK_PIXEL_DIFFERENCE = 24
# Below this mean row entropy, or with every face's map this alike, the attention has collapsed: either way the
# refinement adds about one vector to every face. Measured: one-hot maps give 0.0, near-uniform rows on real faces
# 0.04-0.06, a working attention on the demo 0.4-0.6.
COLLAPSED_ENTROPY = 0.1
COLLAPSED_INPUT_DEPENDENCE = 0.1


def received(attention: torch.Tensor) -> torch.Tensor:
    """(B, N, N [+ 1]) -> (B, N): the attention each location receives, averaged over the queries, as a share of
    what the N locations receive (sums to 1; a sink column, if any, left out)."""
    r = attention.float()[..., : attention.shape[1]].mean(dim=1)
    return r / r.sum(dim=1, keepdim=True).clamp_min(1e-12)


def row_entropy(attention: torch.Tensor) -> torch.Tensor:
    """Mean entropy (nats) of the rows of (B, N, N) attention."""
    p = attention.float()
    return -(p * p.clamp_min(1e-12).log()).sum(-1).mean()


def mask_cells(unmasked: torch.Tensor, masked: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, N): the fraction of each feature-map cell's pixels under the mask, from uint8 (B, 3, S, S) twins."""
    differs = (masked.float() - unmasked.float()).abs().amax(dim=1, keepdim=True) > MASK_PIXEL_DIFFERENCE
    return F.adaptive_avg_pool2d(differs.float(), grid).flatten(1)


def lower_face_cells(grid: tuple[int, int]) -> torch.Tensor:
    """(N,): 1 for the cells of an (h, w) grid over an aligned face whose centre lies below the template's nose tip."""
    h, w = grid
    below = (torch.arange(h) + 0.5) / h > float(ARCFACE_5[2, 1]) / TEMPLATE_SIZE
    return below.float()[:, None].expand(h, w).flatten()


def attention_stats(attention: torch.Tensor) -> dict[str, torch.Tensor]:
    """Entropy, top share and input dependence of one batch of attention maps (tensors, no host sync)."""
    r = received(attention)
    n = attention.shape[1]
    spread = r.std(dim=0, unbiased=False).mean() * n if r.shape[0] > 1 else r.new_zeros(())
    stats = {
        "entropy": row_entropy(attention),
        "top_share": attention.float().amax(-1).mean(),
        "input_dependence": spread,
    }
    if attention.shape[-1] > n:
        stats["sink_share"] = attention.float()[..., n:].sum(-1).mean()
    return stats


def mask_shares(unmasked: torch.Tensor, masked: torch.Tensor, cells: torch.Tensor) -> dict[str, torch.Tensor]:
    """Share of received attention on mask cells: for the twins, for their originals on the same cells, and for a
    uniform attention (`mask_area`, the cells' share of the grid)."""
    return {
        "mask_share_masked": (received(masked) * cells).sum(1).mean(),
        "mask_share_unmasked": (received(unmasked) * cells).sum(1).mean(),
        "mask_area": cells.float().mean(1).mean(),
    }


def collapse_warning(stats: dict[str, float]) -> str | None:
    """A sentence saying the attention has collapsed, or None when it has not."""
    entropy, dependence = stats.get("entropy"), stats.get("input_dependence")
    if entropy is None or dependence is None:
        return None
    if entropy < COLLAPSED_ENTROPY or dependence < COLLAPSED_INPUT_DEPENDENCE:
        return (
            f"WARNING: the refinement attention has collapsed (row entropy {entropy:.3f} nats, input dependence "
            f"{dependence:.4f}): its rows are one-hot, or every face gets nearly the same map (uniform rows do that too)"
        )
    return None
