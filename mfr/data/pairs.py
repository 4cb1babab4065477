"""Verification pairs drawn with a fixed seed: half genuine, half impostor, in identity-disjoint folds."""

from __future__ import annotations

import numpy as np


def make_pairs(
    identities: np.ndarray,
    probe: np.ndarray,
    reference: np.ndarray,
    num_pairs: int,
    folds: int = 10,
    seed: int = 0,
    photo: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (probe image, reference image) over images labelled by `identities`.

    `probe` and `reference` are boolean masks saying which images may stand on each side (for
    masked-vs-unmasked: probe = masked, reference = unmasked). Identities are dealt into `folds`
    disjoint groups, and each fold gets an equal share of genuine and impostor pairs from its own
    identities, as LFW's protocol does. `photo` names the photograph each image shows (a masked twin
    shows its original's): a genuine pair never shows one photograph twice, which would make it
    trivially easy. The same identities, seed and folds deal the same folds. Returns (pairs (P,2),
    same (P,), fold (P,)).
    """
    identities = np.asarray(identities)
    photo = np.arange(len(identities)) if photo is None else np.asarray(photo)
    rng = np.random.default_rng(seed)
    probes = {i: np.flatnonzero(probe & (identities == i)) for i in np.unique(identities)}
    refs = {i: np.flatnonzero(reference & (identities == i)) for i in np.unique(identities)}

    def genuine_refs(p: int, i) -> np.ndarray:
        return refs[i][photo[refs[i]] != photo[p]]

    usable = [i for i in probes if any(len(genuine_refs(p, i)) for p in probes[i])]
    if len(usable) < 2 * folds:
        raise ValueError(
            f"need at least {2 * folds} identities with both probe and reference images, found {len(usable)}"
        )
    usable = rng.permutation(usable)
    per_fold = num_pairs // folds
    pairs, same, fold_of = [], [], []
    for f in range(folds):
        fold_ids = usable[f::folds]
        for n in range(per_fold):
            a = fold_ids[rng.integers(len(fold_ids))]
            if n % 2 == 0:
                p = rng.choice([p for p in probes[a] if len(genuine_refs(p, a))])
                pairs.append((p, rng.choice(genuine_refs(p, a))))
            else:
                b = fold_ids[rng.integers(len(fold_ids) - 1)]
                b = b if b != a else fold_ids[-1]
                pairs.append((rng.choice(probes[a]), rng.choice(refs[b])))
            same.append(n % 2 == 0)
            fold_of.append(f)
    return np.array(pairs, np.int64), np.array(same, bool), np.array(fold_of, np.int64)
