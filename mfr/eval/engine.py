"""The evaluation engine: one benchmark's embeddings in, every figure of every protocol out.

`mfr.evaluate` and the training callback both call `evaluate_set`, so a number logged during
training and one printed from a checkpoint are computed by the same code. Results are plain
JSON-ready dicts; whatever cannot be computed for a set (a protocol without pairs, a rate the pair
count cannot resolve) is left out or None, with a note saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mfr.data.sets import VerificationSet
from mfr.errors import ConfigError
from mfr.eval.embedding import Embeddings
from mfr.eval.identification import identification_metrics, match_ranks
from mfr.eval.protocols import (
    PROTOCOLS,
    TITLES,
    Landmarker,
    MaskedReferences,
    describe,
    mask_labels,
    pair_protocols,
    probe_first,
)
from mfr.eval.verification import FAR_TARGETS, contiguous_folds, pair_scores, verification_metrics

# Embeds images the set does not hold (MR-MP's masked references): (images, name) -> Embeddings. Every such image
# wears a mask, so a model that embeds masked faces apart (SRT) embeds them as masked.
ExtraEmbedder = Callable[[Sequence, str], Embeddings]


@dataclass
class EvalOptions:
    """What to compute. `default_mask` is the mask type drawn on MR-MP references when the probe's is unknown."""

    protocols: Sequence[str] = PROTOCOLS
    far_targets: Sequence[float] = FAR_TARGETS
    identification: bool = True
    max_rank: int = 20
    by_mask_type: bool = True
    default_mask: str = "surgical"
    landmarker: Landmarker | None = None

    def __post_init__(self):
        unknown = [p for p in self.protocols if p not in PROTOCOLS]
        if unknown:
            raise ConfigError(f"metrics.protocols: {unknown} unknown; allowed: {', '.join(PROTOCOLS)}")


def _verification(scores, same, folds, options: EvalOptions, probe_labels=None) -> dict:
    out = verification_metrics(scores, same, folds, options.far_targets)
    if options.by_mask_type and probe_labels is not None:
        out["by_mask_type"] = {}
        for label in np.unique(probe_labels):
            part = probe_labels == label
            metrics = verification_metrics(scores[part], same[part], folds[part], options.far_targets)
            metrics.pop("roc", None)
            out["by_mask_type"][str(label)] = metrics
    return out


def _identification(groups, gallery_identities: int, options: EvalOptions) -> dict:
    """Rank-k and CMC over probe groups, each (probe embeddings, ids, labels, gallery embeddings, gallery ids)."""
    ranks, labels, unmatched = [np.zeros(0, np.int64)], [np.zeros(0, str)], 0
    for probe_emb, probe_ids, probe_labels, gallery_emb, gallery_ids in groups:
        present = np.isin(probe_ids, gallery_ids)
        unmatched += int((~present).sum())
        if present.any():
            ranks.append(match_ranks(probe_emb[present], probe_ids[present], gallery_emb, gallery_ids))
            labels.append(probe_labels[present])
    ranks, labels = np.concatenate(ranks), np.concatenate(labels)
    if not len(ranks):
        return {
            "probes": 0,
            "gallery_identities": gallery_identities,
            "probes_without_gallery": unmatched,
            "cmc": [],
            "rank1": None,
            "rank5": None,
            "notes": [f"no probe has a gallery image of its identity ({unmatched} probes)"],
        }
    out = identification_metrics(ranks, gallery_identities, max_rank=options.max_rank)
    out["probes_without_gallery"] = unmatched
    if unmatched:
        out["notes"].append(f"{unmatched} probes left out: their identity has no gallery image")
    if options.by_mask_type and len(np.unique(labels)) > 1:
        out["by_mask_type"] = {
            str(label): identification_metrics(ranks[labels == label], gallery_identities, max_rank=options.max_rank)
            for label in np.unique(labels)
        }
    return out


class SetEvaluation:
    """The evaluation of one VerificationSet from its embeddings; `run()` gives the results dict."""

    def __init__(
        self, vset: VerificationSet, embeddings: Embeddings, options: EvalOptions, embed_extra: ExtraEmbedder | None
    ):
        self.vset, self.embeddings, self.options, self.embed_extra = vset, embeddings, options, embed_extra
        self.emb = np.nan_to_num(embeddings.values)
        self.readable = ~np.isnan(embeddings.values).any(1)
        self.usable = self.readable[vset.pairs].all(1)
        self.folds = np.asarray(vset.folds) if vset.folds is not None else contiguous_folds(len(vset.pairs))
        self.labels = mask_labels(vset)
        self.default_labels = np.full(len(vset.images), options.default_mask)
        self.notes: list[str] = []
        self.split: tuple[np.ndarray, np.ndarray] | None = None  # (gallery, probe) image indices for identification

    def probe_labels(self) -> np.ndarray:
        return self.labels if self.labels is not None else self.default_labels

    def run(self) -> dict:
        vset = self.vset
        result = {
            "name": vset.name,
            "images": len(vset.images),
            "pairs": len(vset.pairs),
            "pairs_skipped": int((~self.usable).sum()),
            "embedding": self.embeddings.summary(),
            "protocols": {},
            "identification": {},
            "notes": self.notes,
        }
        if result["pairs_skipped"]:
            self.notes.append(
                f"{result['pairs_skipped']} pairs skipped: they show one of the "
                f"{int((~self.readable).sum())} images that could not be read (see embedding.unreadable_examples)"
            )
        self.pair_protocols(result)
        self.split = self.gallery_and_probes() if self.options.identification else None
        if self.split is not None:
            self.identification(result)
        if "mr_mp" in self.options.protocols:
            self.mr_mp(result)
        return result

    def pair_protocols(self, result: dict) -> None:
        vset, selections = self.vset, pair_protocols(self.vset)
        scores = pair_scores(self.emb, vset.pairs)
        for pid in self.options.protocols:
            if pid == "mr_mp":
                continue
            if pid not in selections:
                self.notes.append(f"{pid}: needs per-image 'masked' labels, which {vset.name} does not have")
                continue
            chosen = selections[pid] & self.usable
            if not chosen.any():
                self.notes.append(f"{pid}: {vset.name} has no such pairs")
                continue
            labels = None
            if pid == "umr_mp" and self.labels is not None:
                labels = self.labels[probe_first(vset, vset.pairs[chosen])[:, 0]]
            metrics = _verification(scores[chosen], vset.same[chosen], self.folds[chosen], self.options, labels)
            every_pair = pid != "all" and bool(chosen.sum() == self.usable.sum())  # then the same figures as 'all'
            result["protocols"][pid] = {"title": TITLES[pid], "every_pair": every_pair, **metrics}

    def gallery_and_probes(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(gallery image indices: unmasked; probe image indices: masked), or None with a note."""
        meta = self.vset.meta
        if "identity" not in meta or "masked" not in meta:
            self.notes.append(
                f"identification: needs per-image 'identity' and 'masked' labels, which {self.vset.name} does not have"
            )
            return None
        masked = np.asarray(meta["masked"]).astype(bool)
        gallery, probes = np.flatnonzero(~masked & self.readable), np.flatnonzero(masked & self.readable)
        if not len(gallery) or not len(probes):
            self.notes.append(
                f"identification: {self.vset.name} needs both unmasked (gallery) and masked (probe) images"
            )
            return None
        return gallery, probes

    def identification(self, result: dict) -> None:
        gallery, probes = self.split
        ids = np.asarray(self.vset.meta["identity"])
        labels = self.probe_labels()
        group = (self.emb[probes], ids[probes], labels[probes], self.emb[gallery], ids[gallery])
        result["identification"]["umr_mp"] = {
            "title": TITLES["umr_mp"],
            "gallery_images": len(gallery),
            **_identification([group], len(np.unique(ids[gallery])), self.options),
        }

    def mr_mp(self, result: dict) -> None:
        """Mask each reference in its probe's mask type, embed the masked references, then score as umr_mp."""
        vset, meta = self.vset, self.vset.meta
        reason = None
        if "masked" not in meta:
            reason = f"needs per-image 'masked' labels, which {vset.name} does not have"
        elif "landmarks" not in meta and self.options.landmarker is None:
            reason = (
                f"needs landmarks to draw masks: {vset.name} has no meta['landmarks'] and no landmarker is configured"
            )
        elif self.embed_extra is None:
            reason = "needs an embedder for the masked references"
        if reason:
            self.notes.append(f"mr_mp: {reason}")
            return
        chosen = pair_protocols(vset)["umr_mp"] & self.usable
        oriented = probe_first(vset, vset.pairs[chosen])
        labels = self.probe_labels()
        wanted = [(int(r), str(labels[p])) for p, r in oriented]
        if self.split is not None:
            gallery, probes = self.split
            wanted += [(int(g), str(label)) for label in np.unique(labels[probes]) for g in gallery]
        renders = {key: k for k, key in enumerate(dict.fromkeys(wanted))}
        if not renders:
            self.notes.append(f"mr_mp: {vset.name} has no masked-vs-unmasked pairs or gallery to mask")
            return
        refs = MaskedReferences(
            vset.images,
            [r for r, _ in renders],
            [lab for _, lab in renders],
            self.options.default_mask,
            landmarks=meta.get("landmarks"),
            landmarker=self.options.landmarker,
            landmark_sources=meta.get("landmark_source"),
        )
        extra = self.embed_extra(refs, f"{vset.name}_mr_mp")
        rendered = ~np.isnan(extra.values).any(1)
        extra_emb = np.nan_to_num(extra.values)
        result["mr_mp"] = {
            "references": len(refs),
            "stand_in_masks": refs.inexact_specs(),
            "landmarks": refs.landmark_counts(),
            "landmarker": describe(self.options.landmarker) or None,
            "embedding": extra.summary(),
        }
        if len(oriented):
            k = np.array([renders[key] for key in wanted[: len(oriented)]])
            ok = rendered[k]
            if not ok.all():
                self.notes.append(f"mr_mp: {int((~ok).sum())} pairs skipped: their reference could not be masked")
            scores = np.einsum("ij,ij->i", self.emb[oriented[ok, 0]], extra_emb[k[ok]])
            probe_labels = labels[oriented[ok, 0]] if self.labels is not None else None
            metrics = _verification(scores, vset.same[chosen][ok], self.folds[chosen][ok], self.options, probe_labels)
            result["protocols"]["mr_mp"] = {"title": TITLES["mr_mp"], **metrics}
        if self.split is not None:
            ids = np.asarray(meta["identity"])
            groups = []
            for label in np.unique(labels[probes]):
                of_label = probes[labels[probes] == label]
                k = np.array([renders[(int(g), str(label))] for g in gallery])
                k = k[rendered[k]]
                gallery_ids = ids[[refs.index[j] for j in k]]
                groups.append((self.emb[of_label], ids[of_label], labels[of_label], extra_emb[k], gallery_ids))
            result["identification"]["mr_mp"] = {
                "title": TITLES["mr_mp"],
                "gallery_images": len(gallery),
                **_identification(groups, len(np.unique(ids[gallery])), self.options),
            }


def evaluate_set(
    vset: VerificationSet,
    embeddings: Embeddings | np.ndarray,
    options: EvalOptions | None = None,
    embed_extra: ExtraEmbedder | None = None,
) -> dict:
    """Every metric of every protocol the set's labels allow, from its images' embeddings.

    `embeddings` holds one L2-normalised row per image (NaN rows: unreadable images, whose pairs
    are skipped and counted). `embed_extra` embeds MR-MP's masked references; without it MR-MP is
    skipped with a note.
    """
    if isinstance(embeddings, np.ndarray):
        embeddings = Embeddings(embeddings)
    return SetEvaluation(vset, embeddings, options or EvalOptions(), embed_extra).run()


def scalar_metrics(result: dict) -> dict[str, float]:
    """The headline numbers of one set's result, flat, as loggers take them: 'acc', 'umr_mp/eer', 'mr_mp/rank1'.

    The 'all' protocol's figures have no prefix, so `<set>/acc` stays the benchmark's published accuracy.
    """
    out = {}
    for pid, m in result["protocols"].items():
        prefix = "" if pid == "all" else f"{pid}/"
        for key in ("acc", "acc_std", "auc", "eer", "best_threshold", "best_threshold_acc"):
            if m.get(key) is not None:
                out[prefix + key] = float(m[key])
        for far, tar in m["tar_at_far"].items():
            if tar is not None:
                out[f"{prefix}tar_far{far}"] = tar["tar"]
    for pid, m in result["identification"].items():
        for key, value in m.items():
            if key.startswith("rank") and value is not None:
                out[f"{pid}/{key}"] = float(value)
    out.update({f"attention/{key}": value for key, value in result.get("attention", {}).items()})
    return out
