"""dlib's ResNet baseline as an embedder: 128-d unit vectors, whole-image fallback counted, flip in its key, MR-MP's masked
references cut at their own landmarks."""

import cv2
import numpy as np

from mfr.data.demo.faces import draw_face, sample_identity, sample_shot
from mfr.eval.dlib_embedder import AT_LANDMARKS, WHOLE_IMAGE, DlibResNet
from mfr.eval.embedding import compute_embeddings
from mfr.eval.protocols import MaskedReferences


def test_dlib_embeddings_and_fallback_count():
    rng = np.random.default_rng(0)
    images = np.stack([np.full((64, 64, 3), 128, np.uint8), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)])
    embedder = DlibResNet(flip=True, upsample=0)
    emb = compute_embeddings(images, embedder, num_workers=0)
    assert emb.values.shape == (2, 128) and np.allclose(np.linalg.norm(emb.values, axis=1), 1, atol=1e-5)
    assert emb.notes == {WHOLE_IMAGE: 2}  # no face in either: both use the whole image as the box
    assert DlibResNet(flip=False).fingerprint != embedder.fingerprint


def test_masked_references_are_cut_at_their_own_landmarks_never_detected():
    """MR-MP with dlib's model: every masked copy is cut where its reference's landmarks say, so no mask mask_synth
    just drew goes through dlib's detector (which fell back to the whole image on nearly all of them)."""
    rng = np.random.default_rng(0)
    faces, points = zip(*(draw_face(sample_identity(rng), sample_shot(rng, 0.3), 150, rng) for _ in range(3)))
    refs = MaskedReferences(
        np.stack(faces),
        np.array([0, 1, 2, 0]),
        ["surgical", "cloth", "n95", "cloth"],
        "surgical",
        landmarks=np.stack(points),
    )
    embedder = DlibResNet(flip=False)
    emb = compute_embeddings(refs, embedder, num_workers=0)
    assert emb.notes == {AT_LANDMARKS: 4} and not np.isnan(emb.values).any()
    # the chip follows the landmarks: the same face turned and moved in a larger photo, with its landmarks, gives the same chip
    turn = cv2.getRotationMatrix2D((75.0, 75.0), 20.0, 1.0) + np.array([[0, 0, 40.0], [0, 0, 25.0]])
    photo = cv2.warpAffine(faces[0], turn, (230, 230), borderMode=cv2.BORDER_REFLECT)
    moved = np.asarray(points[0], np.float64) @ turn[:, :2].T + turn[:, 2]
    inner = (
        slice(40, 110),
        slice(40, 110),
    )  # the face's middle: the padding round it shows what lies beyond each photo
    chip = embedder.chip_at(faces[0], points[0]).astype(float)[inner]
    assert np.abs(embedder.chip_at(photo, moved).astype(float)[inner] - chip).mean() < 6  # interpolation only
    assert np.abs(embedder.chip_at(faces[1], points[1]).astype(float)[inner] - chip).mean() > 12  # another face
