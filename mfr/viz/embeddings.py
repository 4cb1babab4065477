"""Feature distributions: embeddings of unmasked, synthetic masked and real masked faces projected to 2-D.

Domain adaptation should pull real masked faces into the region of the synthetic masked ones the
model was trained on (the paper's feature-distribution figure), so the figure puts a model trained
without DA beside one trained with it. PCA is exact and fast; t-SNE needs scikit-learn (optional).
"""

from __future__ import annotations

import numpy as np
import torch

from mfr.errors import ConfigError
from mfr.viz.figures import plt


@torch.no_grad()
def embed_faces(module, faces: dict[str, np.ndarray], batch_size: int = 256) -> dict[str, np.ndarray]:
    """{kind: (n, E) L2-normalised embeddings} of (n, S, S, 3) uint8 faces, as validation embeds them."""
    was_training = module.training
    module.eval()
    device = next(module.parameters()).device
    try:
        return {
            kind: torch.cat(
                [
                    module.embed(
                        torch.from_numpy(np.ascontiguousarray(images[i : i + batch_size]))
                        .permute(0, 3, 1, 2)
                        .to(device)
                    )
                    for i in range(0, len(images), batch_size)
                ]
            )
            .cpu()
            .numpy()
            for kind, images in faces.items()
        }
    finally:
        module.train(was_training)


def project_2d(embeddings: dict[str, np.ndarray], method: str = "pca", seed: int = 0) -> dict[str, np.ndarray]:
    """All groups projected together (one shared 2-D space): {kind: (n, 2)}."""
    kinds = list(embeddings)
    stacked = np.concatenate([embeddings[k] for k in kinds]).astype(np.float64)
    if method == "pca":
        centred = stacked - stacked.mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        axes = vt[:2] * np.sign(vt[:2, [0]] + 1e-12)  # a fixed sign per axis, so reruns draw the same picture
        points = centred @ axes.T
    elif method == "tsne":
        try:
            from sklearn.manifold import TSNE
        except ImportError:
            raise ConfigError(
                "method='tsne' needs scikit-learn (pip install scikit-learn); method='pca' does not"
            ) from None
        points = TSNE(2, perplexity=min(30.0, (len(stacked) - 1) / 3), random_state=seed).fit_transform(stacked)
    else:
        raise ConfigError(f"method={method!r}; allowed: pca, tsne")
    bounds = np.cumsum([0] + [len(embeddings[k]) for k in kinds])
    return {k: points[a:b] for k, a, b in zip(kinds, bounds[:-1], bounds[1:])}


def centroid_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between the mean embeddings of two groups: a simple number for a domain gap."""
    return float(np.linalg.norm(a.mean(0) - b.mean(0)))


def projection_figure(panels: dict[str, dict[str, np.ndarray]], method: str = "pca"):
    """One scatter panel per model ({panel title: {kind: (n, 2) points}}), the same colour per kind."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4.2), squeeze=False)
    colours = dict(zip(["unmasked", "synthetic masked", "real masked"], ["tab:blue", "tab:orange", "tab:red"]))
    for ax, (title, groups) in zip(axes[0], panels.items()):
        for kind, points in groups.items():
            ax.scatter(points[:, 0], points[:, 1], s=10, alpha=0.6, label=kind, color=colours.get(kind))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(f"{method} 1")
        ax.set_ylabel(f"{method} 2")
        ax.legend(fontsize=7)
    return fig
