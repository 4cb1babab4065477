"""Benchmark readers on tiny trees written in each published layout."""

import pickle

import cv2
import numpy as np
import pytest

from mfr.data.demo.benchmarks import write_mfr2
from mfr.data.readers.benchmarks import read_insightface_bin, read_lfw, read_mfr2, read_mlfw
from mfr.data.readers.io import ImageFiles
from mfr.data.readers.mask_labels import spec_for_label
from mfr.errors import DataError


def write_image(path, value=0, size=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size, size, 3), value, np.uint8))


def encoded(value):
    return cv2.imencode(".jpg", np.full((8, 8, 3), value, np.uint8))[1].tobytes()


@pytest.fixture(scope="module")
def mfr2_root(tmp_path_factory):
    return write_mfr2(tmp_path_factory.mktemp("mfr2"), identities=6, images_per_identity=4, pairs=40, seed=1)


def test_mfr2_reads_pairs_labels_and_images(mfr2_root):
    vset = read_mfr2(str(mfr2_root))
    assert vset.name == "mfr2" and len(vset.images) == 24 and len(vset.pairs) == 40
    assert vset.folds is None and vset.same.sum() == 20
    lines = (mfr2_root / "pairs.txt").read_text().split("\n")
    rows = [line.split(", ") for line in (mfr2_root / "mfr2_labels.txt").read_text().splitlines()]
    labels = {(n, int(i)): t for n, i, t in rows}
    for (a, b), line, same in zip(vset.pairs, lines, vset.same):
        fields = line.split("\t")
        first = (fields[0], int(fields[1]))
        second = (fields[0], int(fields[2])) if len(fields) == 3 else (fields[2], int(fields[3]))
        assert vset.images.paths[a].endswith(f"{first[0]}/{first[0]}_{first[1]:04d}.png")
        assert vset.images.paths[b].endswith(f"{second[0]}/{second[0]}_{second[1]:04d}.png")
        assert same == (first[0] == second[0])
        assert vset.meta["mask_type"][a] == labels[first] and vset.meta["masked"][a] == (labels[first] != "no-mask")
    assert vset.meta["identity"][vset.pairs[0, 0]] == lines[0].split("\t")[0]
    assert vset.meta["landmarks"].shape == (24, 68, 2)
    assert vset.images[0].shape == (160, 160, 3)


def test_mfr2_missing_root_shows_the_layout(tmp_path):
    with pytest.raises(DataError, match="nowhere: does not exist. Expected layout:(.|\n)*mfr2_labels.txt"):
        read_mfr2(str(tmp_path / "nowhere"))


def test_mfr2_missing_image_is_named(mfr2_root, tmp_path):
    root = tmp_path / "copy"
    root.mkdir()
    for name in ("pairs.txt", "mfr2_labels.txt"):
        (root / name).write_text((mfr2_root / name).read_text())
    with pytest.raises(DataError, match="24 of 24 images are missing:\n  .*Synthetic000_0001.png"):
        read_mfr2(str(root))


def test_mfr2_paired_image_without_label(mfr2_root, tmp_path):
    root = tmp_path / "copy"
    root.mkdir()
    (root / "pairs.txt").write_text("Somebody 1 2\n")
    (root / "mfr2_labels.txt").write_text("Somebody, 1, no-mask\n")
    with pytest.raises(DataError, match="no line in mfr2_labels.txt, e.g. Somebody 2"):
        read_mfr2(str(root))


def test_lfw_header_defines_folds_and_indices_are_one_based(tmp_path):
    for n, i in [("A", 1), ("A", 2), ("B", 1), ("B", 3), ("C", 1)]:
        write_image(tmp_path / n / f"{n}_{i:04d}.jpg")
    (tmp_path / "pairs.txt").write_text("2\t1\nA\t1\t2\nA\t2\tB\t1\nB\t1\t3\nC\t1\tA\t1\n")
    vset = read_lfw(str(tmp_path))
    assert vset.folds.tolist() == [0, 0, 1, 1] and vset.same.tolist() == [True, False, True, False]
    assert [p.rsplit("/", 1)[1] for p in vset.images.paths] == [
        "A_0001.jpg",
        "A_0002.jpg",
        "B_0001.jpg",
        "B_0003.jpg",
        "C_0001.jpg",
    ]
    assert vset.pairs.tolist() == [[0, 1], [1, 2], [2, 3], [4, 0]]
    assert vset.meta["identity"].tolist() == ["A", "A", "B", "B", "C"]


def test_lfw_bad_line_and_bad_header(tmp_path):
    (tmp_path / "pairs.txt").write_text("A 1 2\nA one 2\n")
    with pytest.raises(DataError, match=r"pairs.txt:2: expected 'Name i j'"):
        read_lfw(str(tmp_path))
    (tmp_path / "pairs.txt").write_text("10 300\nA 1 2\n")
    with pytest.raises(DataError, match="promises 10 folds of 2 x 300 pairs, the file has 1"):
        read_lfw(str(tmp_path))


def test_mlfw_tab_pairs_with_identities(tmp_path):
    names = ["Ann_Lee_0001_0000.jpg", "Ann_Lee_0002_0001.jpg", "Bo_0001_0002.jpg"]
    for name in names:
        write_image(tmp_path / "aligned" / name)
    (tmp_path / "pairs.txt").write_text(f"{names[0]}\t{names[1]}\t1\n{names[1]}\t{names[2]}\t0\n")
    vset = read_mlfw(str(tmp_path))
    assert vset.pairs.tolist() == [[0, 1], [1, 2]] and vset.same.tolist() == [True, False] and vset.folds is None
    assert vset.meta["identity"].tolist() == ["Ann_Lee", "Ann_Lee", "Bo"]
    (tmp_path / "pairs.txt").write_text(f"{names[0]}\t{names[1]}\tyes\n")
    with pytest.raises(DataError, match="pairs.txt:1: expected 'img1<TAB>img2<TAB>label'"):
        read_mlfw(str(tmp_path))


def test_insightface_bin(tmp_path):
    path = tmp_path / "lfw.bin"
    path.write_bytes(pickle.dumps(([encoded(10), encoded(20), encoded(30), encoded(40)], [True, False])))
    vset = read_insightface_bin(str(path))
    assert vset.name == "lfw" and vset.pairs.tolist() == [[0, 1], [2, 3]] and vset.same.tolist() == [True, False]
    assert vset.images[3].shape == (8, 8, 3) and abs(int(vset.images[3].mean()) - 40) <= 2


def test_insightface_bin_refuses_other_files(tmp_path):
    text = tmp_path / "notes.bin"
    text.write_text("hello")
    with pytest.raises(DataError, match="not an insightface .bin validation file"):
        read_insightface_bin(str(text))
    code = tmp_path / "code.bin"
    code.write_bytes(pickle.dumps(([np.zeros(3)], [True])))  # needs numpy's classes to load
    with pytest.raises(DataError, match="asks for numpy"):
        read_insightface_bin(str(code))
    odd = tmp_path / "odd.bin"
    odd.write_bytes(pickle.dumps(([encoded(1)] * 3, [True])))
    with pytest.raises(DataError, match="3 images for 1 pairs"):
        read_insightface_bin(str(odd))


def test_corrupt_image_is_named(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    images = ImageFiles([bad])
    with pytest.raises(DataError, match="bad.jpg: not a decodable image"):
        images[0]
    assert len(images.fingerprint) == 40


def test_fingerprint_follows_the_files(tmp_path):
    write_image(tmp_path / "a.png", 1)
    before = ImageFiles([tmp_path / "a.png"]).fingerprint
    write_image(tmp_path / "a.png", 2, size=9)
    assert ImageFiles([tmp_path / "a.png"]).fingerprint != before


def test_mask_labels_to_specs():
    spec, exact = spec_for_label("surgical_blue_left")
    assert spec.kind == "surgical" and spec.color == (168, 204, 228) and exact
    spec, _ = spec_for_label(None)
    assert spec.kind == "surgical"
    spec, exact = spec_for_label("balaclava")
    assert spec.kind == "surgical" and not exact


def test_layouts_place_the_template():
    from mask_synth import TEMPLATE_68
    from mfr.data.readers.layouts import layout_landmarks

    assert np.allclose(layout_landmarks("arcface", 112), TEMPLATE_68)
    assert np.allclose(layout_landmarks("arcface", 224), TEMPLATE_68 * 2)
    mtcnn = layout_landmarks("mtcnn", 160)
    assert mtcnn.min() > 0 and mtcnn.max() < 160  # the whole face inside the crop, with margin
    eyes, mouth, chin = mtcnn[36:48, 1].mean(), mtcnn[48:68, 1].mean(), mtcnn[8, 1]
    assert 50 < eyes < mouth < chin < 150
    with pytest.raises(ValueError, match="unknown face layout"):
        layout_landmarks("frontal", 112)
