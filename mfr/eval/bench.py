"""`python -m mfr.eval.bench`: how long the evaluation engine takes on cached embeddings, at MLFW's size.

    python -m mfr.eval.bench [--pairs 6000] [--dim 512] [--repeats 5]   # MLFW: 6,000 pairs, 10 folds of 600

Times (median of --repeats) for: reading the embeddings from the cache, the verification metrics
of an unlabelled set (MLFW: the 'all' protocol), and the full engine on a set with mask and
identity labels (every pair protocol plus 1:N identification; MR-MP is left out: it renders and
embeds new images). The embeddings are random with identity structure, so only times matter here.
"""

from __future__ import annotations

import functools
import statistics
import tempfile
import time

import numpy as np

from mfr.cli import ArgumentParser, one_line_errors
from mfr.data.sets import VerificationSet
from mfr.errors import ConfigError
from mfr.eval.embedding import EmbeddingCache, Embeddings
from mfr.eval.engine import EvalOptions, evaluate_set


class Named:
    """An image sequence that is only a fingerprint: the cache never needs the pixels."""

    def __init__(self, n: int):
        self.n, self.fingerprint = n, f"bench-{n}"

    def __len__(self):
        return self.n


def mlfw_like(pairs: int, dim: int, rng: np.random.Generator, labelled: bool) -> tuple[VerificationSet, np.ndarray]:
    images = 2 * pairs
    ids = rng.integers(0, images // 4, images)
    centres = rng.normal(size=(ids.max() + 1, dim)).astype(np.float32)
    emb = centres[ids] + rng.normal(size=(images, dim)).astype(np.float32) * 1.5
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    a = rng.integers(0, images, pairs)
    b = np.where(np.arange(pairs) % 2 == 0, a, rng.integers(0, images, pairs))  # half genuine (same image id reused)
    same = ids[a] == ids[b]
    meta = {"identity": ids, "masked": rng.integers(0, 2, images)} if labelled else {}
    folds = np.arange(pairs) // (pairs // 10)
    return VerificationSet("mlfw_like", Named(images), np.stack([a, b], 1), same, folds, meta), emb


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


@one_line_errors()
def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(prog="python -m mfr.eval.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6000, help="verification pairs, in 10 folds")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    for key, low in (("pairs", 20), ("dim", 1), ("repeats", 1)):
        if getattr(args, key) < low:
            raise ConfigError(f"--{key}={getattr(args, key)}; allowed: an integer >= {low}")
    rng = np.random.default_rng(0)

    class Model:
        fingerprint = "bench-model"

    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(tmp)
        for labelled in (False, True):
            vset, emb = mlfw_like(args.pairs, args.dim, rng, labelled)
            path = cache.path(vset.name, vset.images, Model)
            cache.save(path, Embeddings(emb))
            load_s, cached = timed(functools.partial(cache.load, path), args.repeats)
            options = EvalOptions(protocols=["all", "umr_mp", "masked_masked", "unmasked_unmasked"])
            eval_s, result = timed(functools.partial(evaluate_set, vset, cached, options), args.repeats)
            what = (
                "with mask + identity labels: 4 pair protocols + identification"
                if labelled
                else "unlabelled (MLFW): all pairs"
            )
            print(f"{args.pairs} pairs, {len(emb)} images x {args.dim}-d, {what}")
            print(
                f"  cache read {load_s * 1000:7.1f} ms   engine {eval_s * 1000:7.1f} ms   total {(load_s + eval_s) * 1000:7.1f} ms"
                f"   (acc {result['protocols']['all']['acc']:.4f})"
            )


if __name__ == "__main__":
    main()
