"""Verification and identification metrics against hand-computed answers and brute-force definitions."""

import itertools

import numpy as np
import pytest

from mfr.eval.identification import cmc_curve, identification_metrics, match_ranks
from mfr.eval.verification import (
    best_threshold,
    contiguous_folds,
    equal_error_rate,
    far_label,
    kfold_accuracy,
    roc_auc,
    roc_curve,
    tar_at_far,
    verification_metrics,
)


def brute_force_kfold(scores, same, folds):
    """The LFW protocol written out literally: try every candidate threshold on the training folds."""
    accs = []
    for f in np.unique(folds):
        train, test = folds != f, folds == f
        s = np.sort(scores[train])
        candidates = np.concatenate([[s[0] - 1.0], (s[1:] + s[:-1]) / 2, [s[-1] + 1.0]])
        best_acc, best_t = -1.0, None
        for t in candidates:
            if t in s:  # a midpoint of two equal scores is no cut
                continue
            acc = np.mean((scores[train] > t) == same[train])
            if acc > best_acc:
                best_acc, best_t = acc, t
        accs.append(np.mean((scores[test] > best_t) == same[test]))
    return np.mean(accs), np.std(accs)


@pytest.mark.parametrize("seed", range(5))
def test_kfold_accuracy_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 120
    same = rng.random(n) < 0.5
    scores = np.round(rng.normal(same * 0.6, 0.5), 1)  # rounding makes ties, the tricky case
    folds = rng.integers(0, 10, n)
    acc, std = brute_force_kfold(scores, same, folds)
    got = kfold_accuracy(scores, same, folds)
    assert got["acc"] == pytest.approx(acc) and got["acc_std"] == pytest.approx(std)
    assert len(got["fold_acc"]) == 10


def test_kfold_without_folds_uses_ten_contiguous_blocks():
    folds = contiguous_folds(25)
    assert folds.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 5, 5, 6, 6, 6, 7, 7, 8, 8, 8, 9, 9]
    rng = np.random.default_rng(0)
    scores, same = rng.random(25), rng.random(25) < 0.5
    assert kfold_accuracy(scores, same)["acc"] == kfold_accuracy(scores, same, folds)["acc"]


def test_best_threshold_separable():
    threshold, acc = best_threshold(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1], bool))
    assert acc == 1.0 and threshold == pytest.approx(0.5)


def test_roc_and_auc_against_mann_whitney():
    rng = np.random.default_rng(1)
    scores = np.round(rng.random(60), 1)
    same = rng.random(60) < 0.4
    far, tar, _ = roc_curve(scores, same)
    g, i = scores[same], scores[~same]
    pairs = list(itertools.product(g, i))
    expected = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs])
    assert roc_auc(far, tar) == pytest.approx(expected)
    assert far[0] == tar[0] == 0 and far[-1] == tar[-1] == 1


def test_eer_at_a_roc_point():
    # sorted: .9g .8g .7g .6i .4g .3i .2i .1i: accepting >= .6 gives FAR = FRR = 1/4
    scores = np.array([0.9, 0.8, 0.7, 0.4, 0.6, 0.3, 0.2, 0.1])
    same = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    eer, threshold = equal_error_rate(*roc_curve(scores, same))
    assert eer == pytest.approx(0.25) and threshold == pytest.approx(0.6)


def test_eer_interpolated_between_points():
    # genuine 4, 3, 1; impostor 2: FRR stays 1/3 while FAR jumps 0 -> 1, so the curves cross at 1/3
    eer, _ = equal_error_rate(*roc_curve(np.array([4.0, 3.0, 1.0, 2.0]), np.array([1, 1, 1, 0], bool)))
    assert eer == pytest.approx(1 / 3)


def test_eer_extremes():
    same = np.array([1, 1, 0, 0], bool)
    assert equal_error_rate(*roc_curve(np.array([0.9, 0.8, 0.2, 0.1]), same))[0] == 0.0
    assert equal_error_rate(*roc_curve(np.array([0.1, 0.2, 0.8, 0.9]), same))[0] == 1.0


def test_tar_at_far_known_answer():
    impostor = np.arange(100) / 100  # 0.00 .. 0.99
    genuine = np.array([0.95, 0.90, 0.89, 0.5, 0.995])
    scores = np.concatenate([genuine, impostor])
    same = np.r_[np.ones(5, bool), np.zeros(100, bool)]
    # FAR 1e-1: 10 impostors may pass (0.90..0.99), threshold 0.89 -> genuine above it: .95, .90, .995
    got = tar_at_far(scores, same, 0.1)
    assert (
        got["threshold"] == pytest.approx(0.89)
        and got["far"] == pytest.approx(0.1)
        and got["tar"] == pytest.approx(0.6)
    )
    # FAR 1e-2: one impostor (0.99) may pass -> threshold 0.98 -> only 0.995
    assert tar_at_far(scores, same, 0.01)["tar"] == pytest.approx(0.2)
    # FAR 1e-3 cannot be resolved with 100 impostors
    assert tar_at_far(scores, same, 1e-3) is None


def test_tar_at_far_with_tied_impostors_stays_under_the_rate():
    scores = np.r_[np.full(10, 0.5), np.full(100, 0.5)]
    same = np.r_[np.ones(10, bool), np.zeros(100, bool)]
    got = tar_at_far(scores, same, 0.1)
    assert got["far"] == 0.0 and got["tar"] == 0.0


def test_verification_metrics_says_what_it_cannot_compute():
    rng = np.random.default_rng(0)
    same = np.arange(200) % 2 == 0
    scores = rng.normal(same * 1.0, 0.5)
    m = verification_metrics(scores, same)
    assert m["pairs"] == 200 and m["genuine"] == m["impostor"] == 100
    assert m["tar_at_far"]["1e-1"] is not None and m["tar_at_far"]["1e-2"] is not None
    assert m["tar_at_far"]["1e-3"] is None and any("1e-3 needs >= 1000" in n for n in m["notes"])
    assert 0.5 < m["auc"] <= 1 and 0 <= m["eer"] < 0.5
    only_genuine = verification_metrics(scores[same], same[same])
    assert only_genuine["auc"] is None and only_genuine["notes"]


def test_far_label():
    assert [far_label(f) for f in (1e-1, 1e-2, 1e-3, 1e-4)] == ["1e-1", "1e-2", "1e-3", "1e-4"]


def test_rank_k_on_a_toy_gallery():
    # gallery: identity 0 has two images, identities 1 and 2 one each
    gallery_ids = np.array([0, 1, 0, 2])
    similarity = np.array(
        [
            [0.2, 0.9, 0.8, 0.1],  # probe of 0: best of id 0 is 0.8, id 1 beats it -> rank 2
            [0.1, 0.3, 0.2, 0.7],  # probe of 2: rank 1
            [0.5, 0.5, 0.1, 0.4],  # probe of 1: tie with id 0 at 0.5 -> counted against it -> rank 2
            [0.1, 0.6, 0.2, 0.5],  # probe of 0: 0.2 < 0.5 < 0.6 -> rank 3
        ]
    )
    probe_ids = np.array([0, 2, 1, 0])
    # as embeddings: probe rows = their similarities, gallery = unit vectors, so probe . gallery_g = similarity[p, g]
    ranks = match_ranks(similarity, probe_ids, np.eye(4), gallery_ids)
    assert ranks.tolist() == [2, 1, 2, 3]
    assert cmc_curve(ranks, 3).tolist() == [0.25, 0.75, 1.0]
    m = identification_metrics(ranks, gallery_identities=3)
    assert m["rank1"] == 0.25 and m["rank5"] is None and m["cmc"] == [0.25, 0.75, 1.0]


def test_rank_with_string_identities_and_missing_gallery():
    sim = np.array([[0.9, 0.1]])
    assert match_ranks(sim, np.array(["bob"]), np.eye(2), np.array(["bob", "amy"])).tolist() == [1]
    with pytest.raises(ValueError):
        match_ranks(sim, np.array(["cat"]), np.eye(2), np.array(["bob", "amy"]))
