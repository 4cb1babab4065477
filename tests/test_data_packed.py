"""Packs: the same images, labels and twin links as the source, resumable, and skips reported."""

import json
import logging

import numpy as np
import pytest

from conftest import error_line
from face_files import colour, write_identity_folders, write_insightface_rec, write_rmfd, write_twins
from mfr.data.readers.folders import identity_folders
from mfr.data.readers.packed import PackedImages, read_pack, write_pack
from mfr.data.readers.sources import open_faces
from mfr.data.readers.twins import attach_twins
from mfr.pack import main as pack_main


def twinned(tmp_path):
    source = write_identity_folders(tmp_path / "casia", identities=3, per_identity=3)
    return attach_twins(identity_folders(source), write_twins(source, tmp_path / "twins"))


def test_a_pack_holds_the_same_faces_links_and_labels(tmp_path):
    table = twinned(tmp_path)
    out = write_pack(table, tmp_path / "pack", image_size=16, shard_size=4, threads=2)  # 18 images in 5 shards
    packed = read_pack(out)
    assert len(json.loads((out / "pack.json").read_text())["shards"]) == 5
    assert packed.keys == table.keys and packed.names == table.names
    assert np.array_equal(packed.identity, table.identity) and np.array_equal(packed.twin, table.twin)
    assert np.array_equal(packed.mask, table.mask)
    for r in range(len(table)):
        image = packed.images[r]
        assert image.shape == (16, 16, 3) and image.dtype == np.uint8 and type(image) is np.ndarray
        assert tuple(image[0, 0]) == tuple(table.images[r][0, 0])
    assert open_faces(out).keys == table.keys
    with pytest.raises(ValueError, match="already has masked twins"):
        open_faces(out, twins=tmp_path / "twins")


def test_unreadable_images_are_skipped_listed_and_links_remapped(tmp_path, caplog):
    table = twinned(tmp_path)
    (tmp_path / "casia" / "id00" / "001.png").write_bytes(b"broken")  # a source whose twin is fine
    (tmp_path / "twins" / "masked" / "id01" / "000.png").write_bytes(b"")  # a twin whose source is fine
    with caplog.at_level(logging.WARNING):
        packed = read_pack(write_pack(table, tmp_path / "pack", image_size=16, shard_size=5, threads=2))
    assert len(packed) == len(table) - 2
    assert "skipped 2 of 18 images" in caplog.text and "id00/001.png (not a decodable image" in caplog.text
    meta = json.loads((tmp_path / "pack" / "pack.json").read_text())
    assert sorted(p.split("/")[-2] for p, _ in meta["skipped"]) == ["id00", "id01"]
    # every remaining link joins a face to the twin of the same image; the orphaned ones are gone
    for r in np.flatnonzero(packed.twin >= 0):
        assert packed.keys[packed.twin[r]] == f"twins/masked/{packed.keys[r]}"
        i, j = int(packed.keys[r][2:4]), int(packed.keys[r][5:8])
        assert tuple(packed.images[packed.twin[r]][0, 0]) == colour(i, j, 1)
    assert packed.twin[packed.keys.index("id01/000.png")] == -1


def test_packing_resumes_and_refuses_other_options(tmp_path):
    table = twinned(tmp_path)
    out = write_pack(table, tmp_path / "pack", image_size=16, shard_size=4, threads=1)
    (out / "pack.json").unlink()
    (out / "images-00004.json").unlink()  # as if killed while writing the last shard
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("images-0000[0-3].npy")}
    write_pack(table, out, image_size=16, shard_size=4, threads=1)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("images-0000[0-3].npy")} == stamps
    assert len(read_pack(out)) == len(table)
    with pytest.raises(ValueError, match="made with"):
        write_pack(table, out, image_size=32, shard_size=4)


def test_packed_images_reopen_their_shards_after_pickling(tmp_path):
    import pickle

    packed = read_pack(write_pack(twinned(tmp_path), tmp_path / "pack", image_size=16, shard_size=4))
    images: PackedImages = packed.images
    images[0]
    copy = pickle.loads(pickle.dumps(images))
    assert copy._shards is None and np.array_equal(copy[7], images[7])


def test_pack_cli_packs_rmfd_and_unpacks_recordio(tmp_path, capsys):
    rmfd = write_rmfd(tmp_path / "rmfd", identities=2, unmasked=2, masked=1)
    assert pack_main([str(rmfd), str(tmp_path / "pack"), "--size", "16"]) == 0
    packed = read_pack(tmp_path / "pack")
    assert packed.mask.tolist() == [0, 0, 0, 0, 1, 1]
    assert "packed 6 of 6 images" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="2"):
        pack_main([str(tmp_path / "missing"), str(tmp_path / "p2")])
    assert "does not exist" in error_line(capsys.readouterr().err)
    rec = write_insightface_rec(tmp_path / "faces_webface_112x112") / "train.rec"
    assert pack_main([str(rec), str(tmp_path / "folders"), "--to", "folders"]) == 0
    assert identity_folders(tmp_path / "folders").names == ["0", "1"]
