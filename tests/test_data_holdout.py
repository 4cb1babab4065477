"""The held-out source people: kept out of training, paired without showing one photograph twice."""

import logging

import numpy as np
import pytest

from face_files import decoded_colour, write_identity_folders, write_twins
from mfr.data.holdout import holdout_set, split_source
from mfr.data.pairs import make_pairs
from mfr.data.readers.sources import open_faces
from mfr.errors import ConfigError, DataError


def test_genuine_pairs_never_show_one_photograph_twice():
    identities = np.repeat(np.arange(4), 3)
    photo = np.arange(12) // 2 * 2  # images 2k and 2k+1 show one photograph
    everything = np.ones(12, bool)
    pairs, same, _ = make_pairs(identities, everything, everything, 200, folds=2, seed=1, photo=photo)
    assert same.sum() == 100
    assert (photo[pairs[same, 0]] != photo[pairs[same, 1]]).all()
    assert (identities[pairs[:, 0]] == identities[pairs[:, 1]]).tolist() == same.tolist()


@pytest.fixture
def source(tmp_path):
    root = write_identity_folders(tmp_path / "faces", identities=24, per_identity=3)
    twins = write_twins(root, tmp_path / "twins")
    return open_faces(root, twins)


def test_split_keeps_the_held_out_people_out_of_training_and_is_deterministic(source):
    train, held = split_source(source, 8, seed=2)
    assert len(held) == 8 and not {train.names[i] for i in train.identity} & set(held)
    assert split_source(source, 8, seed=2)[1] == held and split_source(source, 8, seed=3)[1] != held
    with pytest.raises(DataError, match="data.holdout.identities=30"):
        split_source(source, 30)


def test_holdout_set_pairs_unmasked_faces_and_twins_against_other_photographs(source):
    _, held = split_source(source, 20, seed=0)
    vset = holdout_set(source, held, num_pairs=200, folds=10, seed=0, image_size=16)
    masked, identity = vset.meta["masked"], vset.meta["identity"]
    kind = masked[vset.pairs[:, 0]]
    assert (kind == 0).sum() == (kind == 1).sum() == 100  # unmasked-unmasked, then twin-unmasked
    assert (masked[vset.pairs[:, 1]] == 0).all()
    assert np.array_equal(identity[vset.pairs[:, 0]] == identity[vset.pairs[:, 1]], vset.same)
    # a genuine twin pair never shows the twin's own original: the colours encode (identity, image, masked)
    for a, b in vset.pairs[vset.same]:
        assert decoded_colour(vset.images[a])[:2] != decoded_colour(vset.images[b])[:2]
    for f in range(10):  # one identity-disjoint fold assignment for both kinds of pairs
        inside = set(identity[vset.pairs[vset.folds == f]].ravel())
        assert not inside & set(identity[vset.pairs[vset.folds != f]].ravel())
    assert vset.images[0].shape == (16, 16, 3)
    with pytest.raises(ConfigError, match="among the 20 held-out people; lower data.holdout.folds"):
        holdout_set(source, held, num_pairs=200, folds=11, seed=0)  # 11 folds need 22 people


def test_holdout_pairs_on_an_unreadable_photo_are_dropped_and_reported(source, tmp_path, caplog):
    _, held = split_source(source, 20, seed=0)
    whole = holdout_set(source, held, num_pairs=200, folds=10, seed=0)
    key = source.keys[np.flatnonzero(source.identity == source.names.index(held[0]))[0]]
    (tmp_path / "faces" / key).write_bytes(b"corrupt")  # the source fixture's photo, read again below
    with caplog.at_level(logging.WARNING):
        vset = holdout_set(source, held, num_pairs=200, folds=10, seed=0)
    assert 0 < len(vset.pairs) < len(whole.pairs) and len(vset.images) == len(whole.images) - 1
    assert all(image is not None for image in vset.images) and len(vset.meta["identity"]) == len(vset.images)
    identity = vset.meta["identity"]
    assert np.array_equal(identity[vset.pairs[:, 0]] == identity[vset.pairs[:, 1]], vset.same)
    assert key in caplog.text and f"of {len(whole.pairs)} pairs showing an unreadable image" in caplog.text
