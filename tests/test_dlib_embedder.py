"""dlib's ResNet baseline as an embedder: 128-d unit vectors, whole-image fallback counted, flip in its key."""

import numpy as np

from mfr.eval.dlib_embedder import WHOLE_IMAGE, DlibResNet
from mfr.eval.embedding import compute_embeddings


def test_dlib_embeddings_and_fallback_count():
    rng = np.random.default_rng(0)
    images = np.stack([np.full((64, 64, 3), 128, np.uint8), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)])
    embedder = DlibResNet(flip=True, upsample=0)
    emb = compute_embeddings(images, embedder, num_workers=0)
    assert emb.values.shape == (2, 128) and np.allclose(np.linalg.norm(emb.values, axis=1), 1, atol=1e-5)
    assert emb.notes == {WHOLE_IMAGE: 2}  # no face in either: both use the whole image as the box
    assert DlibResNet(flip=False).fingerprint != embedder.fingerprint
