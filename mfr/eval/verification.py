"""Verification metrics on pair scores, computed the way the face-recognition literature does.

Every decision in this module reads "same person when score > threshold". The LFW protocol's
accuracy picks its threshold on nine folds and tests it on the tenth; the ROC, its AUC, the EER and
TAR at a fixed FAR are computed on all pairs at once, as papers report them.
"""

from __future__ import annotations

import math

import numpy as np

FAR_TARGETS = (1e-1, 1e-2, 1e-3, 1e-4)


def pair_scores(embeddings: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Cosine similarity of each pair, from L2-normalised embeddings."""
    return np.einsum("ij,ij->i", embeddings[pairs[:, 0]], embeddings[pairs[:, 1]])


def contiguous_folds(num_pairs: int, k: int = 10) -> np.ndarray:
    """Fold of each pair when the pairs file defines none: k contiguous blocks of (nearly) equal size."""
    return np.arange(num_pairs) * k // max(num_pairs, 1)


def accuracy_at(scores: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Share of pairs classified right when 'same person' means score > threshold."""
    return float(np.mean((scores > threshold) == same))


def best_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """(threshold, accuracy) maximising accuracy on these pairs, over every distinct cut point.

    Candidate thresholds are midpoints between consecutive sorted scores (plus both ends), so the
    search is exact, not a grid; ties go to the lowest threshold.
    """
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], same[order].astype(np.int64)
    # threshold below s[k] (k = 0..n): pairs k.. predicted same. correct = negatives below + positives above
    neg_below = np.concatenate([[0], np.cumsum(1 - y)])
    pos_above = y.sum() - np.concatenate([[0], np.cumsum(y)])
    correct = neg_below + pos_above
    distinct = np.concatenate([[True], s[1:] > s[:-1], [True]])  # a cut can only fall between distinct scores
    correct = np.where(distinct, correct, -1)
    k = int(np.argmax(correct))
    lo = s[k - 1] if k > 0 else s[0] - 1.0
    hi = s[k] if k < len(s) else s[-1] + 1.0
    return float((lo + hi) / 2), float(correct[k] / len(s))


def kfold_accuracy(scores: np.ndarray, same: np.ndarray, folds: np.ndarray | None = None, k: int = 10) -> dict:
    """LFW-protocol accuracy: for each fold, pick the threshold on the other folds, test on this one.

    `folds[p]` assigns pair p to a fold; None splits the pairs into k contiguous folds. Returns the
    mean and (population) std of the fold accuracies, each fold's accuracy and the mean threshold.
    """
    scores, same = np.asarray(scores, np.float64), np.asarray(same, bool)
    folds = contiguous_folds(len(scores), k) if folds is None else np.asarray(folds)
    accs, thresholds = [], []
    for f in np.unique(folds):
        test = folds == f
        threshold, _ = best_threshold(scores[~test], same[~test])
        accs.append(accuracy_at(scores[test], same[test], threshold))
        thresholds.append(threshold)
    return {
        "acc": float(np.mean(accs)),
        "acc_std": float(np.std(accs)),
        "fold_acc": [float(a) for a in accs],
        "threshold": float(np.mean(thresholds)),
    }


def roc_curve(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(far, tar, thresholds): one point per distinct score, from (0, 0) to (1, 1).

    Point i accepts every pair scoring >= thresholds[i] (the first threshold is +inf); tied scores
    move together, so the curve never splits a tie.
    """
    scores, same = np.asarray(scores, np.float64), np.asarray(same, bool)
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], same[order]
    last_of_tie = np.concatenate([s[1:] != s[:-1], [True]])
    tp, fp = np.cumsum(y)[last_of_tie], np.cumsum(~y)[last_of_tie]
    tar = np.concatenate([[0.0], tp / max(int(y.sum()), 1)])
    far = np.concatenate([[0.0], fp / max(int((~y).sum()), 1)])
    return far, tar, np.concatenate([[np.inf], s[last_of_tie]])


def roc_auc(far: np.ndarray, tar: np.ndarray) -> float:
    """Area under the ROC: trapezoids, so a tie counts half (the Mann-Whitney statistic)."""
    return float(np.sum((far[1:] - far[:-1]) * (tar[1:] + tar[:-1]) / 2))


def equal_error_rate(far: np.ndarray, tar: np.ndarray, thresholds: np.ndarray) -> tuple[float, float]:
    """(EER, threshold): where FAR meets FRR = 1 - TAR, linearly interpolated between ROC points.

    The threshold is the score of the first ROC point at which FAR is no longer below FRR.
    """
    gap = (1 - tar) - far  # falls from 1 to -1 along the curve
    i = int(np.argmax(gap <= 0))
    if gap[i] == 0:
        return float(far[i]), float(thresholds[i])
    t = gap[i - 1] / (gap[i - 1] - gap[i])
    return float(far[i - 1] + t * (far[i] - far[i - 1])), float(thresholds[i])


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> dict | None:
    """TAR at the threshold that lets at most `far` of the impostor pairs through.

    The threshold is the (k+1)-th highest impostor score with k = floor(far * impostors), so at most
    k impostors score above it. None when there are fewer than 1/far impostors: the rate cannot be
    resolved from so few (one false accept would already exceed it).
    """
    impostor = np.sort(np.asarray(scores, np.float64)[~same])[::-1]
    if len(impostor) * far < 1 - 1e-9:
        return None
    k = int(math.floor(far * len(impostor) + 1e-9))
    threshold = float(impostor[k]) if k < len(impostor) else -np.inf
    return {
        "tar": float(np.mean(scores[same] > threshold)),
        "far": float(np.mean(impostor > threshold)),
        "threshold": threshold,
    }


def far_label(far: float) -> str:
    """1e-3 -> '1e-3', the key a FAR target is stored and logged under."""
    mantissa, exponent = f"{far:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def verification_metrics(
    scores: np.ndarray, same: np.ndarray, folds: np.ndarray | None = None, far_targets=FAR_TARGETS
) -> dict:
    """Every verification figure for one set of pairs; what cannot be computed is None, with a note why."""
    scores, same = np.asarray(scores, np.float64), np.asarray(same, bool)
    folds = contiguous_folds(len(scores)) if folds is None else np.asarray(folds)
    genuine, impostor = int(same.sum()), int((~same).sum())
    out: dict = {"pairs": len(scores), "genuine": genuine, "impostor": impostor, "notes": []}
    if len(np.unique(folds)) >= 2:
        out.update(kfold_accuracy(scores, same, folds))
    else:
        out.update(acc=None, acc_std=None, fold_acc=[], threshold=None)
        out["notes"].append("10-fold accuracy needs pairs in at least two folds")
    out["best_threshold"], out["best_threshold_acc"] = best_threshold(scores, same) if len(scores) else (None, None)
    if not (genuine and impostor):
        out.update(auc=None, eer=None, eer_threshold=None, tar_at_far={far_label(f): None for f in far_targets})
        out["notes"].append(
            f"ROC, EER and TAR@FAR need genuine and impostor pairs ({genuine} genuine, {impostor} impostor)"
        )
        return out
    far, tar, thresholds = roc_curve(scores, same)
    out["auc"] = roc_auc(far, tar)
    out["eer"], out["eer_threshold"] = equal_error_rate(far, tar, thresholds)
    out["tar_at_far"] = {}
    for target in far_targets:
        out["tar_at_far"][far_label(target)] = tar_at_far(scores, same, target)
        if out["tar_at_far"][far_label(target)] is None:
            need = int(math.ceil(1 / target))
            out["notes"].append(
                f"TAR@FAR={far_label(target)} needs >= {need} impostor pairs, this protocol has {impostor}"
            )
    out["roc"] = {"far": far.tolist(), "tar": tar.tolist()}
    return out
