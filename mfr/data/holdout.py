"""A held-out split of the source's own people: is the model learning identities before it learns to transfer?

Some identities of the training source are kept out of training, and their photos (and masked twins)
become a verification set: unmasked vs unmasked pairs (plain face recognition) and masked-twin vs
unmasked pairs (the masked task on the source's own kind of photo). Genuine pairs never show one
photograph twice (a twin against its own original, or two near-duplicate photos that `python -m
mfr.audit` found, would be trivially easy), and both kinds of pairs share one identity-disjoint fold
assignment. The split is a seeded choice among the sorted names, so
it is the same in every run over the same dataset.
"""

from __future__ import annotations

import logging

import numpy as np

from mfr.data.audit import photo_groups
from mfr.data.pairs import make_pairs
from mfr.data.readers.table import FaceTable
from mfr.data.sets import VerificationSet, read_verification_set
from mfr.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def split_source(table: FaceTable, identities: int, seed: int = 0) -> tuple[FaceTable, list[str]]:
    """(the table without the held-out people, their names): `identities` people with at least two
    photos (and a twin, when the table has twins), chosen by a seeded permutation of the sorted names."""
    originals = np.ones(len(table), bool)
    originals[table.twin[table.twin >= 0]] = False
    photos = np.bincount(table.identity[originals], minlength=len(table.names))
    eligible = photos >= 2
    if table.has_twins:
        eligible &= np.bincount(table.identity[originals & (table.twin >= 0)], minlength=len(table.names)) > 0
    names = sorted(table.names[i] for i in np.flatnonzero(eligible))
    if len(names) < identities:
        raise DataError(
            f"data.holdout.identities={identities}: the source has only {len(names)} people with two photos"
            f"{' and a masked twin' if table.has_twins else ''}"
        )
    held = sorted(names[i] for i in np.random.default_rng(seed).permutation(len(names))[:identities])
    held_set = set(held)
    return table.with_identities([n for n in table.names if n not in held_set]), held


def holdout_set(
    table: FaceTable,
    names: list[str],
    num_pairs: int = 2000,
    folds: int = 10,
    seed: int = 0,
    image_size: int | None = None,
    name: str = "holdout",
    audit: str | None = None,
) -> VerificationSet:
    """The held-out people's verification set: half unmasked-unmasked pairs, half masked-twin vs unmasked pairs
    (only the former without twins), with `meta` masked labels so the evaluation reports each protocol.
    `audit`: the dataset's audit.json, whose near-duplicate photos never make a genuine pair."""
    held = table.with_identities(names)
    is_twin = np.zeros(len(held), bool)
    is_twin[held.twin[held.twin >= 0]] = True
    photo = photo_groups(held, audit)  # a twin shows its original's photograph
    kinds = [(~is_twin, ~is_twin)] + ([(is_twin, ~is_twin)] if is_twin.any() else [])
    per_kind = num_pairs // len(kinds)
    try:
        drawn = [make_pairs(held.identity, probe, ref, per_kind, folds, seed, photo) for probe, ref in kinds]
    except ValueError as error:  # identity-disjoint folds need 2 people a fold
        raise ConfigError(
            f"data.holdout: {error} among the {len(names)} held-out people; lower data.holdout.folds "
            f"or raise data.holdout.identities"
        ) from None
    pairs, same, fold = (np.concatenate(parts) for parts in zip(*drawn))

    def meta(rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"identity": held.identity[rows], "masked": is_twin[rows].astype(np.int64)}

    found = read_verification_set(name, held, pairs, same, fold, meta, image_size)
    log.info(
        "%s: %d pairs (%s) over %d images of %d held-out source people",
        name,
        len(found.same),
        "unmasked-unmasked and twin-unmasked" if len(kinds) == 2 else "unmasked-unmasked",
        len(found.images),
        len(names),
    )
    return found
