"""insightface RecordIO read without mxnet, checked on files written byte by byte to the format."""

import struct

import numpy as np
import pytest

from face_files import colour, encoded, write_insightface_rec
from mfr.data.readers.folders import identity_folders
from mfr.data.readers.io import CorruptImageError, DatasetLayoutError
from mfr.data.readers.recordio import (
    MAGIC,
    RecordFile,
    RecordWriter,
    extract,
    pack_header,
    recordio_faces,
    unpack_header,
)
from mfr.data.readers.sources import open_faces


def test_record_bytes_follow_the_dmlc_format(tmp_path):
    with RecordWriter(tmp_path / "a.rec") as writer:
        writer.write(0, b"abcde")
    data = (tmp_path / "a.rec").read_bytes()
    assert struct.unpack("<II", data[:8]) == (MAGIC, 5)  # cflag 0, length 5
    assert data[8:] == b"abcde\0\0\0"  # padded to a multiple of 4
    assert (tmp_path / "a.idx").read_text() == "0\t0\n"


def test_a_payload_holding_the_magic_is_split_and_joined_back(tmp_path):
    magic = struct.pack("<I", MAGIC)
    payload = b"1234" + magic + b"5678" + magic + b"9"
    with RecordWriter(tmp_path / "a.rec") as writer:
        writer.write(7, payload)
        writer.write(8, b"next")
    data = (tmp_path / "a.rec").read_bytes()
    flags = [struct.unpack_from("<I", data, at)[0] >> 29 for at in (4, 16, 28)]
    assert flags == [1, 2, 3]  # first, middle, last part
    reader = RecordFile(tmp_path / "a.rec")
    assert reader.read(7) == payload and reader.read(8) == b"next"


def test_headers_round_trip():
    labels, id, rest = unpack_header(pack_header(3.0, id=9) + b"img")
    assert labels.tolist() == [3.0] and id == 9 and rest == b"img"
    labels, _, rest = unpack_header(pack_header([4, 10]) + b"x")
    assert labels.tolist() == [4.0, 10.0] and rest == b"x"


def test_insightface_rec_gives_images_and_identities(tmp_path):
    table = recordio_faces(write_insightface_rec(tmp_path / "faces_webface_112x112"))
    assert len(table) == 5 and table.names == ["0", "1"]
    assert table.identity.tolist() == [0, 0, 1, 1, 1]
    assert table.keys[0] == "train.rec#1"
    assert tuple(table.images[3][0, 0]) == colour(1, 1)
    assert open_faces(tmp_path / "faces_webface_112x112" / "train.rec").keys == table.keys


def test_a_plain_rec_takes_labels_from_each_record(tmp_path):
    with RecordWriter(tmp_path / "plain.rec") as writer:
        for key, identity in enumerate([5, 5, 2]):
            writer.write(key, pack_header(float(identity)) + encoded(identity, key))
    table = recordio_faces(tmp_path / "plain.rec")
    assert table.names == ["2", "5"] and table.identity.tolist() == [1, 1, 0]
    assert tuple(table.images[2][0, 0]) == colour(2, 2)


def test_a_wrong_offset_is_reported_with_the_record(tmp_path):
    folder = write_insightface_rec(tmp_path / "rec")
    lines = (folder / "train.idx").read_text().splitlines()
    lines[2] = lines[2].split("\t")[0] + "\t3"  # record 2 now points into the middle of record 0
    (folder / "train.idx").write_text("\n".join(lines) + "\n")
    table = recordio_faces(folder)
    with pytest.raises(CorruptImageError, match=r"train.rec#2: no RecordIO record at byte 3"):
        table.images[1]


def test_missing_index_shows_the_layout(tmp_path):
    folder = write_insightface_rec(tmp_path / "rec")
    (folder / "train.idx").unlink()
    with pytest.raises(DatasetLayoutError, match=r"train.idx: does not exist. Expected layout:\n  <root>/train.rec"):
        recordio_faces(folder)


def test_extract_writes_identity_folders_with_the_same_images(tmp_path):
    table = recordio_faces(write_insightface_rec(tmp_path / "rec"))
    assert extract(tmp_path / "rec", tmp_path / "folders") == 5
    folders = identity_folders(tmp_path / "folders")
    assert folders.names == ["0", "1"] and folders.keys[2] == "1/3.png"
    for i in range(5):
        assert np.array_equal(folders.images[i], table.images[i])
