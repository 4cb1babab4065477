"""RMFD_DA / RMFD_FV: an identity-disjoint, deterministic split and a pairs file that pins the pairs."""

import logging

import numpy as np
import pytest

from face_files import write_rmfd
from mask_synth import runner
from mask_synth.dataset import list_images
from mask_synth.landmarks import Landmarks
from mask_synth.template import template_landmarks
from mfr.align import AlignJob
from mfr.data.readers.folders import read_rmfd
from mfr.data.readers.io import DatasetLayoutError
from mfr.data.readers.rmfd import rmfd_da, rmfd_fv, split_identities


@pytest.fixture
def rmfd(tmp_path):
    root = write_rmfd(tmp_path / "rmfd", identities=10, unmasked=3, masked=2)
    # one identity with unmasked images only: it cannot give masked-vs-unmasked pairs
    write_rmfd(tmp_path / "extra", identities=11, unmasked=1, masked=0)
    (tmp_path / "extra" / "AFDB_face_dataset" / "id10").rename(root / "AFDB_face_dataset" / "id10")
    return root


def test_split_is_disjoint_deterministic_and_only_holds_out_pairable_identities(rmfd):
    table = read_rmfd(rmfd)
    da, fv = split_identities(table, fv_share=0.4, seed=3)
    assert len(fv) == 4 and not set(da) & set(fv) and set(da) | set(fv) == set(table.names)
    assert "id10" in da  # never held out: no masked images
    assert split_identities(table, 0.4, 3) == (da, fv)
    assert split_identities(table, 0.4, 4)[1] != fv


def test_rmfd_da_has_mask_labels_of_the_da_identities_only(rmfd):
    da_names, fv_names = split_identities(read_rmfd(rmfd), 0.5, 0)
    da = rmfd_da(rmfd, fv_share=0.5, seed=0)
    assert {da.names[i] for i in da.identity} == set(da_names)
    assert set(da.mask.tolist()) == {0, 1}


def test_rmfd_fv_pairs_are_masked_vs_unmasked_and_half_genuine(rmfd, tmp_path):
    pairs_file = tmp_path / "pairs" / "fv.tsv"
    fv = rmfd_fv(rmfd, pairs_file, image_size=16, fv_share=0.6, seed=0, num_pairs=40, folds=3)
    _, held_out = split_identities(read_rmfd(rmfd), 0.6, 0)
    identity, masked = fv.meta["identity"], fv.meta["masked"]
    assert len(fv.pairs) == 39 and fv.same.sum() == 21  # 13 pairs per fold, genuine and impostor in turn
    assert (masked[fv.pairs[:, 0]] == 1).all() and (masked[fv.pairs[:, 1]] == 0).all()
    assert np.array_equal(identity[fv.pairs[:, 0]] == identity[fv.pairs[:, 1]], fv.same)
    names = read_rmfd(rmfd).names
    assert {names[i] for i in identity} <= set(held_out)
    for f in range(3):  # folds are identity-disjoint
        others = set(identity[fv.pairs[fv.folds != f]].ravel())
        assert not set(identity[fv.pairs[fv.folds == f]].ravel()) & others
    assert all(image.shape == (16, 16, 3) for image in fv.images)
    assert pairs_file.read_text().count("AFDB_masked_face_dataset/") == 39


def test_the_unmasked_control_pairs_the_same_peoples_unmasked_photos(rmfd, tmp_path):
    fv = rmfd_fv(rmfd, tmp_path / "fv.tsv", num_pairs=40, folds=3, fv_share=0.6)
    control = rmfd_fv(rmfd, tmp_path / "uu.tsv", num_pairs=40, folds=3, fv_share=0.6, probes="unmasked")
    identity, masked = control.meta["identity"], control.meta["masked"]
    assert (masked[control.pairs] == 0).all() and (control.pairs[:, 0] != control.pairs[:, 1]).all()
    assert np.array_equal(identity[control.pairs[:, 0]] == identity[control.pairs[:, 1]], control.same)
    assert set(identity.tolist()) <= set(fv.meta["identity"].tolist())  # RMFD_FV's people, no others
    with pytest.raises(ValueError, match="was drawn with options"):  # a masked-probe file is not the control's
        rmfd_fv(rmfd, tmp_path / "fv.tsv", num_pairs=40, folds=3, fv_share=0.6, probes="unmasked")
    with pytest.raises(ValueError, match="allowed: masked, unmasked"):
        rmfd_fv(rmfd, tmp_path / "x.tsv", probes="twins")


def test_the_pairs_file_pins_the_pairs(rmfd, tmp_path):
    pairs_file = tmp_path / "fv.tsv"
    first = rmfd_fv(rmfd, pairs_file, num_pairs=40, folds=3, fv_share=0.6)
    lines = pairs_file.read_text().splitlines()
    edited = lines[:2] + lines[3:]  # drop one pair: a reread must follow the file, not redraw
    pairs_file.write_text("\n".join(edited) + "\n")
    again = rmfd_fv(rmfd, pairs_file, num_pairs=40, folds=3, fv_share=0.6)
    assert len(again.pairs) == len(first.pairs) - 1
    with pytest.raises(ValueError, match="was drawn with options"):
        rmfd_fv(rmfd, pairs_file, num_pairs=40, folds=3, fv_share=0.6, seed=1)


def test_pairs_on_unreadable_images_are_dropped_and_reported(rmfd, tmp_path, caplog):
    pairs_file = tmp_path / "fv.tsv"
    rmfd_fv(rmfd, pairs_file, num_pairs=40, folds=3, fv_share=0.6)
    probe = pairs_file.read_text().splitlines()[2].split("\t")[0]
    (rmfd / probe).write_bytes(b"corrupt")
    with caplog.at_level(logging.WARNING):
        fv = rmfd_fv(rmfd, pairs_file, num_pairs=40, folds=3, fv_share=0.6)
    dropped = pairs_file.read_text().count(probe + "\t")
    assert len(fv.pairs) == 39 - dropped
    assert all(image is not None for image in fv.images) and len(fv.meta["identity"]) == len(fv.images)
    assert (fv.meta["masked"][fv.pairs[:, 0]] == 1).all() and (fv.meta["masked"][fv.pairs[:, 1]] == 0).all()
    identity = fv.meta["identity"]
    assert np.array_equal(identity[fv.pairs[:, 0]] == identity[fv.pairs[:, 1]], fv.same)
    assert probe in caplog.text and f"dropped {dropped} of 39 pairs" in caplog.text


def test_new_pairs_avoid_unreadable_images(rmfd, tmp_path, caplog):
    (rmfd / "AFDB_masked_face_dataset" / "id03" / "m0.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        fv = rmfd_fv(rmfd, tmp_path / "fv.tsv", num_pairs=40, folds=3, fv_share=1.0)
    assert len(fv.pairs) == 39
    assert "id03/m0.jpg" not in (tmp_path / "fv.tsv").read_text() and "id03/m0.jpg (empty file)" in caplog.text


def test_a_pairs_file_naming_other_images_is_refused(rmfd, tmp_path):
    pairs_file = tmp_path / "fv.tsv"
    rmfd_fv(rmfd, pairs_file, num_pairs=40, folds=3, fv_share=0.6)
    pairs_file.write_text(pairs_file.read_text().replace("AFDB_face_dataset/", "AFDB_face_dataset/gone_"))
    with pytest.raises(DatasetLayoutError, match="names .* images that are not in the dataset"):
        rmfd_fv(rmfd, pairs_file, num_pairs=40, folds=3, fv_share=0.6)


def test_real_subset_split_and_pairs(shared_data, tmp_path):
    root = shared_data / "rmfd_subset"
    da = rmfd_da(root)
    fv = rmfd_fv(root, tmp_path / "fv.tsv", image_size=32, num_pairs=200, folds=5)
    names = read_rmfd(root).names
    fv_names = {names[i] for i in fv.meta["identity"]}
    assert len(fv_names) == 12 and not fv_names & {da.names[i] for i in da.identity}
    assert len(fv.pairs) == 200 and fv.same.sum() == 100
    assert (fv.meta["masked"][fv.pairs[:, 0]] == 1).all()


class TemplateAlign(AlignJob):
    """mfr.align with a stand-in landmark finder: every photo's face is the template, its chin a little lower each time
    (the five alignment points stay: the aligned landmarks differ in the jaw only)."""

    def setup(self):
        chin = iter(range(1000))
        jaw = np.arange(68)[:, None] < 17
        self._finder = lambda image: Landmarks(
            template_landmarks(image.shape[0]) + np.where(jaw, [0.0, 0.1 * next(chin)], 0.0), "prior"
        )


def test_rmfd_fv_of_a_tree_mfr_align_made_carries_each_images_landmarks(rmfd, tmp_path):
    aligned = tmp_path / "aligned"
    sources, _ = list_images(rmfd)
    runner.run(TemplateAlign(str(rmfd), str(aligned)), sources, aligned, progress=False)
    manifest = {r["aligned"]: np.array(r["landmarks"]) for r in runner.load_records(aligned).values()}
    fv = rmfd_fv(aligned, tmp_path / "fv.tsv", image_size=56, fv_share=0.5, num_pairs=40, folds=2)
    keys = [k for k in read_rmfd(aligned).keys if k in manifest]
    assert len(fv.meta["landmarks"]) == len(fv.images) and set(fv.meta["landmark_source"]) == {"manifest"}
    for points in fv.meta["landmarks"]:  # each image its own manifest landmarks, scaled from 112 to 56 px
        assert any(np.allclose(points, manifest[k] / 2, atol=0.01) for k in keys)
    assert len({tuple(p.ravel()) for p in fv.meta["landmarks"]}) == len(fv.images)
    plain = rmfd_fv(rmfd, tmp_path / "fv_plain.tsv", fv_share=0.5, num_pairs=40, folds=2)
    assert "landmarks" not in plain.meta  # not aligned by mfr.align: MR-MP needs a landmarker there
