"""Readers of the layouts users have: identity folders, mask_synth twins (MCASIA), RMFD, layout detection."""

import json
import logging

import numpy as np
import pytest

from face_files import colour, decoded_colour, face, write_identity_folders, write_image, write_rmfd, write_twins
from mfr.data.readers.folders import identity_folders, read_rmfd
from mfr.data.readers.io import DatasetLayoutError
from mfr.data.readers.sources import open_faces
from mfr.data.readers.table import UNKNOWN
from mfr.data.readers.twins import attach_twins
from mfr.errors import DataError


def test_identity_folders_take_the_identity_from_the_folder(tmp_path, caplog):
    root = write_identity_folders(tmp_path / "casia", identities=3, per_identity=2)
    write_image(root / "id01" / "deeper" / "x.png", face(1, 5))  # deeper folders keep their top identity
    (root / "id00" / "notes.txt").write_text("not an image")
    (root / ".cache").mkdir()
    write_image(root / ".cache" / "hidden.png", face(9, 9))
    with caplog.at_level(logging.INFO):
        table = identity_folders(root)
    assert table.names == ["id00", "id01", "id02"]
    assert table.keys[:5] == ["id00/000.png", "id00/001.png", "id01/000.png", "id01/001.png", "id01/deeper/x.png"]
    assert table.identity.tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert (table.mask == UNKNOWN).all() and (table.twin == -1).all()
    assert tuple(table.images[4][0, 0]) == colour(1, 5)
    assert "ignored 1 files that are not images" in caplog.text


def test_identity_folder_errors_show_the_layout(tmp_path):
    with pytest.raises(DatasetLayoutError, match=r"does not exist. Expected layout:\n  <root>/<identity>/<image>"):
        identity_folders(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="holds no images"):
        identity_folders(tmp_path / "empty")
    write_image(tmp_path / "flat" / "a.png", face(0, 0))
    with pytest.raises(DatasetLayoutError, match="outside identity folders"):
        identity_folders(tmp_path / "flat")


def test_twins_are_linked_to_their_sources(tmp_path, caplog):
    source = write_identity_folders(tmp_path / "casia", identities=2, per_identity=2)
    twins = write_twins(source, tmp_path / "mcasia", failed=("id01/000.png",))
    with caplog.at_level(logging.WARNING):
        table = attach_twins(identity_folders(source), twins)
    assert len(table) == 4 + 3
    linked = np.flatnonzero(table.twin >= 0)
    assert [table.keys[r] for r in linked] == ["id00/000.png", "id00/001.png", "id01/001.png"]
    for r in linked:
        t = table.twin[r]
        assert table.identity[t] == table.identity[r] and table.mask[t] == 1 and table.mask[r] == 0
        i, j = int(table.keys[r][2:4]), int(table.keys[r][-7:-4])
        assert tuple(table.images[r][0, 0]) == colour(i, j, 0) and tuple(table.images[t][0, 0]) == colour(i, j, 1)
    assert (
        "1 of 4 source images have no masked twin (0 not in the manifest, 1 failed: id01/000.png (no face found))"
        in caplog.text
    )


def test_manifest_latest_record_wins_and_a_cut_last_line_is_ignored(tmp_path):
    source = write_identity_folders(tmp_path / "casia", identities=1, per_identity=2)
    twins = write_twins(source, tmp_path / "mcasia", failed=("id00/001.png",))
    retry = {
        "source": "id00/001.png",
        "status": "fallback",
        "masked": "masked/id00/000.png",
        "mask_map": "mask_map/id00/000.png",
    }
    with open(twins / "manifest.jsonl", "a") as f:
        f.write(
            json.dumps(retry) + "\n" + '{"source": "id00/0'
        )  # a resumed run fixed it, then a killed one left half a line
    table = attach_twins(identity_folders(source), twins)
    assert (table.twin[:2] >= 0).all()


def test_twins_errors_name_the_folder(tmp_path):
    source = write_identity_folders(tmp_path / "casia", identities=1, per_identity=1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="holds no manifest.jsonl"):
        attach_twins(identity_folders(source), tmp_path / "empty")
    other = write_twins(
        write_identity_folders(tmp_path / "other", identities=2, per_identity=1, ext=".png"), tmp_path / "t"
    )
    (other / "manifest.jsonl").write_text(
        json.dumps({"source": "zz/1.png", "status": "masked", "masked": "m.png"}) + "\n"
    )
    with pytest.raises(DatasetLayoutError, match="no usable twin of any image"):
        attach_twins(identity_folders(source), other)
    (other / "manifest.jsonl").write_text('{"status": "masked"}\n{"source": "a"}\n')
    with pytest.raises(DataError, match="t: a manifest record has no 'source' field"):
        attach_twins(identity_folders(source), other)


def test_rmfd_labels_come_from_the_top_folder_and_identities_are_shared(tmp_path):
    table = read_rmfd(write_rmfd(tmp_path / "rmfd", identities=3, unmasked=2, masked=1))
    assert table.names == ["id00", "id01", "id02"]
    assert table.mask.tolist() == [0] * 6 + [1] * 3
    for r in range(len(table)):
        i = int(table.keys[r].split("/")[1][2:])
        assert table.identity[r] == i
        assert decoded_colour(table.images[r])[2] == (210 if table.mask[r] else 60)


def test_rmfd_needs_both_folders(tmp_path):
    write_image(tmp_path / "rmfd" / "AFDB_face_dataset" / "a" / "1.jpg", face(0, 0))
    with pytest.raises(DatasetLayoutError, match="AFDB_masked_face_dataset: does not exist"):
        read_rmfd(tmp_path / "rmfd")


def test_open_faces_recognises_each_layout(tmp_path):
    folders = write_identity_folders(tmp_path / "casia")
    rmfd = write_rmfd(tmp_path / "rmfd")
    assert open_faces(folders).keys == identity_folders(folders).keys
    assert (open_faces(rmfd).mask >= 0).all()
    assert open_faces(folders, twins=write_twins(folders, tmp_path / "twins")).has_twins
    with pytest.raises(DatasetLayoutError, match="one of:") as info:
        open_faces(tmp_path / "nothing")
    assert "train.rec" in str(info.value) and "AFDB_face_dataset" in str(info.value)


def test_real_rmfd_subset(shared_data):
    table = open_faces(shared_data / "rmfd_subset")
    assert len(table.names) == 23
    assert int((table.mask == 1).sum()) == 477 and int((table.mask == 0).sum()) == 4457
    image = table.images[0]
    assert image.shape == (224, 224, 3) and image.dtype == np.uint8
