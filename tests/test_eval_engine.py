"""The evaluation engine on small sets with known embeddings: protocols, identification, MR-MP, bad images, cache."""

from collections import Counter

import numpy as np
import pytest
import torch

from mask_synth.landmarks import Landmarks
from mfr.data.readers.layouts import layout_landmarks
from mfr.data.sets import VerificationSet
from mfr.errors import DataError
from mfr.eval.embedding import EmbeddingCache, Embeddings, compute_embeddings, embed_images
from mfr.eval.engine import EvalOptions, evaluate_set, scalar_metrics
from mfr.eval.identification import match_ranks
from mfr.eval.report import format_tables
from mfr.eval.verification import verification_metrics

IDENTITIES, PER_IDENTITY, DIM = 12, 4, 16


def toy_set(rng, mask_types=("surgical", "cloth")):
    """12 identities x 4 images (2 unmasked, 2 masked), pairs of every kind, 16x16 blank images."""
    ids = np.repeat(np.arange(IDENTITIES), PER_IDENTITY)
    masked = np.tile([0, 0, 1, 1], IDENTITIES)
    mask_type = np.where(masked == 1, np.array(mask_types)[rng.integers(len(mask_types), size=len(ids))], "no-mask")
    pairs, same = [], []
    for _ in range(400):
        a, b = rng.choice(len(ids), 2, replace=False)
        pairs.append((a, b))
        same.append(ids[a] == ids[b])
    for i in range(IDENTITIES):  # make sure every kind of genuine pair exists
        base = i * PER_IDENTITY
        pairs += [(base, base + 1), (base, base + 2), (base + 2, base + 3)]
        same += [True, True, True]
    images = np.full((len(ids), 16, 16, 3), 128, np.uint8)
    meta = {
        "identity": ids,
        "masked": masked,
        "mask_type": mask_type,
        "landmarks": np.broadcast_to(layout_landmarks("arcface", 16), (len(ids), 68, 2)),
    }
    return VerificationSet("toy", images, np.array(pairs), np.array(same), None, meta)


def identity_embeddings(rng, ids, noise):
    centres = rng.normal(size=(ids.max() + 1, DIM))
    e = centres[ids] + rng.normal(size=(len(ids), DIM)) * noise
    return (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32), centres


def test_protocols_select_the_right_pairs():
    rng = np.random.default_rng(0)
    vset = toy_set(rng)
    emb, _ = identity_embeddings(rng, vset.meta["identity"], 1.0)
    result = evaluate_set(vset, emb, EvalOptions(protocols=["all", "umr_mp", "masked_masked", "unmasked_unmasked"]))
    masked = vset.meta["masked"][vset.pairs]
    expected = {
        "all": np.ones(len(vset.pairs), bool),
        "umr_mp": masked.sum(1) == 1,
        "masked_masked": masked.sum(1) == 2,
        "unmasked_unmasked": masked.sum(1) == 0,
    }
    scores = np.einsum("ij,ij->i", emb[vset.pairs[:, 0]], emb[vset.pairs[:, 1]])
    folds = np.arange(len(vset.pairs)) * 10 // len(vset.pairs)  # contiguous over the whole file, then selected
    for pid, chosen in expected.items():
        m = result["protocols"][pid]
        assert m["pairs"] == chosen.sum()
        direct = verification_metrics(scores[chosen], vset.same[chosen], folds[chosen])
        assert m["acc"] == pytest.approx(direct["acc"]) and m["auc"] == pytest.approx(direct["auc"])
    # per mask type: the masked side of each umr_mp pair decides its group
    by_type = result["protocols"]["umr_mp"]["by_mask_type"]
    assert sum(part["pairs"] for part in by_type.values()) == expected["umr_mp"].sum()
    assert set(by_type) == {"surgical", "cloth"}
    flat = scalar_metrics(result)
    assert flat["acc"] == result["protocols"]["all"]["acc"] and "umr_mp/eer" in flat and "umr_mp/rank1" in flat


def test_identification_masked_probes_against_unmasked_gallery():
    rng = np.random.default_rng(1)
    vset = toy_set(rng)
    emb, _ = identity_embeddings(rng, vset.meta["identity"], 1.5)
    result = evaluate_set(vset, emb, EvalOptions(protocols=["all"]))
    ids, masked = vset.meta["identity"], vset.meta["masked"].astype(bool)
    ranks = match_ranks(emb[masked], ids[masked], emb[~masked], ids[~masked])
    m = result["identification"]["umr_mp"]
    assert (
        m["probes"] == masked.sum() and m["gallery_identities"] == IDENTITIES and m["gallery_images"] == (~masked).sum()
    )
    assert m["rank1"] == pytest.approx(np.mean(ranks <= 1)) and m["rank5"] == pytest.approx(np.mean(ranks <= 5))
    assert len(m["cmc"]) == IDENTITIES and m["cmc"][-1] == 1.0


def test_unreadable_images_skip_their_pairs_and_say_so():
    rng = np.random.default_rng(2)
    vset = toy_set(rng)
    emb, _ = identity_embeddings(rng, vset.meta["identity"], 1.0)
    emb[[0, 5]] = np.nan
    result = evaluate_set(vset, Embeddings(emb, failures={0: "bad", 5: "bad"}), EvalOptions(protocols=["all"]))
    touching = np.isin(vset.pairs, [0, 5]).any(1).sum()
    assert result["pairs_skipped"] == touching and result["protocols"]["all"]["pairs"] == len(vset.pairs) - touching
    assert any("could not be read" in n for n in result["notes"])
    assert (
        result["identification"]["umr_mp"]["gallery_images"] == 2 * IDENTITIES - 2
    )  # images 0 and 5 are both unmasked


def test_mr_mp_masks_references_in_the_probe_type_and_scores_them():
    rng = np.random.default_rng(3)
    vset = toy_set(rng)
    emb, centres = identity_embeddings(rng, vset.meta["identity"], 3.0)  # umr_mp nearly chance
    seen = {}

    def embed_extra(images, name):
        """Masked references embed as their identity's centre: MR-MP becomes easy, umr_mp stays hard."""
        rows = []
        for k in range(len(images)):
            image = images[k]
            source = int(images.index[k])
            seen[(source, images.labels[k])] = image
            rows.append(centres[vset.meta["identity"][source]])
        rows = np.array(rows, np.float32)
        return Embeddings(rows / np.linalg.norm(rows, axis=1, keepdims=True))

    result = evaluate_set(vset, emb, EvalOptions(protocols=["umr_mp", "mr_mp"]), embed_extra)
    assert result["protocols"]["mr_mp"]["pairs"] == result["protocols"]["umr_mp"]["pairs"]
    assert result["protocols"]["mr_mp"]["auc"] > result["protocols"]["umr_mp"]["auc"]
    # every umr_mp reference was masked in its probe's labelled type, and the mask was really drawn
    masked = vset.meta["masked"].astype(bool)
    for a, b in vset.pairs[masked[vset.pairs].sum(1) == 1]:
        probe, ref = (a, b) if masked[a] else (b, a)
        image = seen[(int(ref), vset.meta["mask_type"][probe])]
        assert (image != vset.images[ref]).any()
    # identification: the gallery is masked once per probe mask type
    assert result["mr_mp"]["references"] == len({(int(r), t) for r, t in seen})
    assert result["identification"]["mr_mp"]["rank1"] > result["identification"]["umr_mp"]["rank1"]


def test_mr_mp_without_landmarks_is_skipped_with_a_reason():
    rng = np.random.default_rng(4)
    vset = toy_set(rng)
    del vset.meta["landmarks"]
    emb, _ = identity_embeddings(rng, vset.meta["identity"], 1.0)
    result = evaluate_set(vset, emb, EvalOptions(protocols=["mr_mp"]), embed_extra=lambda images, name: None)
    assert "mr_mp" not in result["protocols"] and any("no meta['landmarks']" in n for n in result["notes"])


def test_sets_without_mask_labels_get_the_all_protocol_only():
    rng = np.random.default_rng(5)
    vset = toy_set(rng)
    vset.meta = {}
    emb, _ = identity_embeddings(rng, np.repeat(np.arange(IDENTITIES), PER_IDENTITY), 1.0)
    result = evaluate_set(vset, emb)
    assert list(result["protocols"]) == ["all"] and not result["identification"]
    assert any("needs per-image 'masked' labels" in n for n in result["notes"])


class MeanColour:
    """A stand-in embedder: the image's mean colour per channel, plus a constant."""

    image_size, cpu_bound, fingerprint = None, False, "mean-colour-v1"

    def prepare(self, image):
        return image, "odd" if int(image[0, 0, 0]) % 2 else ""

    def embed(self, batch):
        x = torch.cat([batch.float().mean((2, 3)), torch.ones(len(batch), 1)], 1)
        return torch.nn.functional.normalize(x, dim=1)


class SomeUnreadable:
    """Six images; image 3 raises like a corrupt file."""

    fingerprint = "six-images"

    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 3:
            raise DataError("img3.jpg: cannot decode the image")
        return np.full((8, 8, 3), i * 10 + 1, np.uint8)


def test_unreadable_image_becomes_a_nan_row_with_its_reason():
    emb = compute_embeddings(SomeUnreadable(), MeanColour(), batch_size=4, num_workers=0)
    assert np.isnan(emb.values[3]).all() and not np.isnan(np.delete(emb.values, 3, 0)).any()
    assert emb.failures == {3: "img3.jpg: cannot decode the image"}
    assert emb.notes == {"odd": 5}  # 1, 11, 21, 41, 51 are odd
    assert np.allclose(np.linalg.norm(np.delete(emb.values, 3, 0), axis=1), 1)


def test_cache_round_trip_and_keys(tmp_path):
    cache = EmbeddingCache(tmp_path)
    first = embed_images(SomeUnreadable(), MeanColour(), "six", cache, num_workers=0)
    again = embed_images(SomeUnreadable(), MeanColour(), "six", cache, num_workers=0)
    assert not first.cached and again.cached
    assert (
        np.array_equal(first.values, again.values, equal_nan=True)
        and again.failures == first.failures
        and again.notes == first.notes
    )
    other = MeanColour()
    other.fingerprint = "mean-colour-v2"
    assert cache.path("six", SomeUnreadable(), other) != cache.path("six", SomeUnreadable(), MeanColour())
    in_memory = np.zeros((2, 4, 4, 3), np.uint8)
    changed = in_memory.copy()
    changed[0, 0, 0, 0] = 1
    assert cache.path("x", in_memory, MeanColour()) != cache.path("x", changed, MeanColour())
    assert cache.path("x", [in_memory[0]], MeanColour()) is None  # no fingerprint: never cached


def test_mr_mp_counts_references_the_landmarker_cannot_place():
    rng = np.random.default_rng(6)
    vset = toy_set(rng)
    del vset.meta["landmarks"]
    vset.images = np.stack([np.full((16, 16, 3), i, np.uint8) for i in range(len(vset.images))])

    def landmarker(image):
        if image[0, 0, 0] == 1:  # image 1: an unmasked reference of identity 0
            raise RuntimeError("no face")
        return layout_landmarks("arcface", 16)

    emb, _ = identity_embeddings(rng, vset.meta["identity"], 1.0)
    options = EvalOptions(protocols=["umr_mp", "mr_mp"], landmarker=landmarker)

    def embed_extra(images, name):  # the real runner (failures become NaN rows), widened to the set's 16 dimensions
        out = compute_embeddings(images, MeanColour(), num_workers=0)
        out.values = np.pad(out.values, ((0, 0), (0, DIM - out.values.shape[1])))
        return out

    result = evaluate_set(vset, emb, options, embed_extra)
    refs_of_1 = sum(1 for a, b in vset.pairs if {a, b} & {1} and vset.meta["masked"][a] != vset.meta["masked"][b])
    assert result["protocols"]["mr_mp"]["pairs"] == result["protocols"]["umr_mp"]["pairs"] - refs_of_1
    assert any(f"{refs_of_1} pairs skipped: their reference could not be masked" in n for n in result["notes"])
    assert result["mr_mp"]["embedding"]["unreadable"] == len({"surgical", "cloth"} & set(vset.meta["mask_type"]))
    assert "no landmarks to draw the mask (no face)" in next(
        iter(result["mr_mp"]["embedding"]["unreadable_examples"].values())
    )


class FindsFacesItself(MeanColour):
    """A stand-in for dlib's embedder: it 'detects' a face on its own (and, like dlib on a mask just drawn, fails),
    unless it is told the landmarks; it records what it was given."""

    def __init__(self):
        self.told = []

    def prepare(self, image):
        return image, "whole-image box (no face detected)"

    def prepare_at(self, image, landmarks):
        self.told.append(np.asarray(landmarks))
        return image, "cut at its reference's own landmarks"


def test_mr_mp_masks_and_cuts_each_reference_at_its_own_landmarks_found_once():
    rng = np.random.default_rng(7)
    vset = toy_set(
        rng, mask_types=("surgical", "cloth", "n95")
    )  # several mask types: references are masked more than once
    del vset.meta["landmarks"]
    vset.images = np.stack([np.full((16, 16, 3), i, np.uint8) for i in range(len(vset.images))])
    own = {
        i: layout_landmarks("arcface", 16) + i * 0.01 for i in range(len(vset.images))
    }  # each reference its own points
    shown = []

    def landmarker(image):
        i = int(image[0, 0, 0])
        shown.append(i)
        assert (image == vset.images[i]).all()  # always the unmasked reference, never a masked copy
        return Landmarks(own[i], "cnn" if i % 4 == 1 else "detector")

    embedder = FindsFacesItself()

    def embed_extra(images, name):
        out = compute_embeddings(images, embedder, num_workers=0)
        out.values = np.pad(out.values, ((0, 0), (0, DIM - out.values.shape[1])))
        return out

    emb, _ = identity_embeddings(rng, vset.meta["identity"], 1.0)
    result = evaluate_set(vset, emb, EvalOptions(protocols=["umr_mp", "mr_mp"], landmarker=landmarker), embed_extra)
    mr = result["mr_mp"]
    references = sorted(set(shown))
    assert len(shown) == len(references) < mr["references"]  # found once per reference image, not once per mask drawn
    assert mr["landmarks"] == dict(Counter("cnn" if i % 4 == 1 else "detector" for i in references).most_common())
    assert mr["embedding"]["notes"] == {
        "cut at its reference's own landmarks": mr["references"]
    }  # no whole-image box, none detected
    assert len(embedder.told) == mr["references"]
    assert all(any(np.array_equal(told, own[i]) for i in references) for told in embedder.told)
    notes = format_tables({"toy": result})
    assert (
        f"mr_mp: landmarks of the {len(references)} reference images, each its own: " in notes
        and "whole-image" not in notes
    )


def test_mr_mp_says_where_a_sets_own_landmarks_came_from():
    rng = np.random.default_rng(8)
    vset = toy_set(rng)
    vset.meta["landmark_source"] = np.full(len(vset.images), "manifest")
    emb, _ = identity_embeddings(rng, vset.meta["identity"], 1.0)

    def embed_extra(images, name):
        out = compute_embeddings(images, MeanColour(), num_workers=0)
        out.values = np.pad(out.values, ((0, 0), (0, DIM - out.values.shape[1])))
        return out

    result = evaluate_set(vset, emb, EvalOptions(protocols=["mr_mp"], identification=False), embed_extra)
    assert set(result["mr_mp"]["landmarks"]) == {"manifest"} and result["mr_mp"]["landmarker"] is None


@pytest.mark.parametrize(
    "folds, header",
    [(None, "10-fold accuracy (threshold from 9 folds)"), (6, "6-fold accuracy (threshold from 5 folds)")],
)
def test_report_header_names_the_fold_count_the_set_was_scored_with(folds, header):
    rng = np.random.default_rng(0)
    vset = toy_set(rng)
    if folds:
        vset.folds = np.arange(len(vset.pairs)) % folds
    emb, _ = identity_embeddings(rng, vset.meta["identity"], 1.0)
    result = evaluate_set(vset, emb, EvalOptions(protocols=["all"]))
    assert len(result["protocols"]["all"]["fold_acc"]) == (folds or 10)
    assert header in format_tables({"toy": result})
