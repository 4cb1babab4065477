"""1:N identification: rank each gallery identity for every probe, and report rank-k accuracy and CMC.

A gallery identity may hold several images; it scores as its best-matching image (multi-shot
gallery). A probe's rank is the number of identities scoring at least as high as its true one, so
ties count against the probe: a model that scores everything alike gets no credit.
"""

from __future__ import annotations

import numpy as np

PROBE_CHUNK = 4096


def identity_scores(
    probe_emb: np.ndarray, gallery_emb: np.ndarray, gallery_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(scores (P, I), identities (I,)): each probe's best cosine similarity to each gallery identity.

    The gallery is sorted by identity, so identity i's images are rows starts[i] .. of the (gallery x
    probes) similarity; the k-th image of every identity that has one is then a single row gather.
    """
    order = np.argsort(gallery_ids, kind="stable")
    identities, starts, counts = np.unique(np.asarray(gallery_ids)[order], return_index=True, return_counts=True)
    gallery = np.ascontiguousarray(gallery_emb[order], np.float32)
    probes = np.asarray(probe_emb, np.float32)
    scores = np.empty((len(probes), len(identities)), np.float32)
    for lo in range(0, len(probes), PROBE_CHUNK):  # bounded memory however large the probe set
        similarity = gallery @ probes[lo : lo + PROBE_CHUNK].T
        best = similarity[starts]
        for k in range(1, counts.max()):
            more = np.flatnonzero(counts > k)
            best[more] = np.maximum(best[more], similarity[starts[more] + k])
        scores[lo : lo + PROBE_CHUNK] = best.T
    return scores, identities


def match_ranks(
    probe_emb: np.ndarray, probe_ids: np.ndarray, gallery_emb: np.ndarray, gallery_ids: np.ndarray
) -> np.ndarray:
    """Rank (1 = best) of each probe's true identity; every probe's identity must be in the gallery."""
    scores, identities = identity_scores(probe_emb, gallery_emb, gallery_ids)
    column = np.searchsorted(identities, probe_ids)
    if np.any(column >= len(identities)) or np.any(identities[np.minimum(column, len(identities) - 1)] != probe_ids):
        raise ValueError("every probe's identity must have a gallery image")
    true = scores[np.arange(len(probe_ids)), column]
    return (scores >= true[:, None]).sum(1)


def cmc_curve(ranks: np.ndarray, max_rank: int) -> np.ndarray:
    """CMC: entry k-1 is the share of probes whose true identity ranks k or better."""
    ranks = np.asarray(ranks)
    return np.array([float(np.mean(ranks <= k)) if len(ranks) else float("nan") for k in range(1, max_rank + 1)])


def identification_metrics(ranks: np.ndarray, gallery_identities: int, ks=(1, 5), max_rank: int = 20) -> dict:
    """Rank-k accuracies and the CMC (up to max_rank, or the gallery's size when smaller) from probe ranks."""
    cmc = cmc_curve(ranks, min(max_rank, gallery_identities))
    out = {"probes": int(len(ranks)), "gallery_identities": int(gallery_identities), "notes": []}
    for k in ks:
        if k <= gallery_identities:
            out[f"rank{k}"] = float(np.mean(np.asarray(ranks) <= k))
        else:
            out[f"rank{k}"] = None
            out["notes"].append(f"rank-{k} needs at least {k} gallery identities, the gallery has {gallery_identities}")
    out["cmc"] = cmc.tolist()
    return out
