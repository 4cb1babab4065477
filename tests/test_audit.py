"""`mfr.audit`: photos per identity, near-duplicates within and across identities, sizes, and photo ids, on tiny
datasets the tests write (textured 'photos': a random 8x8 pattern blown up, distinct for every seed), plus one
run on the real photos of ../shared (skipped where absent)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import error_line
from mfr.audit import main
from mfr.data.audit import audit, photo_groups, similar_names, similar_pairs, write_audit
from mfr.data.readers.folders import identity_folders
from mfr.data.readers.sources import open_faces
from mfr.errors import DataError
from tests.face_files import write_image, write_twins


def photo(seed: int, size: int = 64) -> np.ndarray:
    """A photo of its own for every seed: thumbnails of two seeds correlate below 0.61 (40 seeds measured)."""
    pattern = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return cv2.resize(pattern, (size, size), interpolation=cv2.INTER_CUBIC)


def retouched(image: np.ndarray) -> np.ndarray:
    """Brighter, flatter: other pixels, the same photo (correlation 0.999 after JPEG)."""
    return np.clip(image * 0.7 + 40, 0, 255).astype(np.uint8)


def blended(seed: int) -> np.ndarray:
    """A quarter of another photo blended into photo(seed): a near miss (correlation 0.95 for seed 7)."""
    return (0.75 * photo(seed) + 0.25 * photo(seed + 100)).astype(np.uint8)


def write_duplicates(root):
    """Within: id00 000 ~ 002 (retouched, JPEG), id01 000 = 001 (copied). Across: id02/000 = id03/000 (copied),
    id04/000 ~ id05/000 (resized to 48 px). id06's two photos are a near miss. Every other photo is its own."""
    write_image(root / "id00/000.png", photo(0))
    write_image(root / "id00/001.png", photo(1))
    write_image(root / "id00/002.jpg", retouched(photo(0)))
    write_image(root / "id01/000.png", photo(2))
    write_image(root / "id01/001.png", photo(2))
    write_image(root / "id02/000.png", photo(3))
    write_image(root / "id02/001.png", photo(4))
    write_image(root / "id03/000.png", photo(3))
    write_image(root / "id04/000.png", photo(5))
    write_image(root / "id04/001.png", photo(6))
    write_image(root / "id05/000.png", photo(5, size=48))
    write_image(root / "id06/000.png", photo(7))
    write_image(root / "id06/001.png", blended(7))
    return root


def groups(report, where):
    return [(g["identities"], g["keys"]) for g in report["duplicates"][where]]


def test_exact_and_near_duplicates_are_found_within_and_across_identities(tmp_path):
    root = write_duplicates(tmp_path / "faces")
    report = audit(identity_folders(root), root, threads=2)
    assert groups(report, "within") == [
        (["id00"], ["id00/000.png", "id00/002.jpg"]),
        (["id01"], ["id01/000.png", "id01/001.png"]),
    ]
    assert groups(report, "across") == [
        (["id02", "id03"], ["id02/000.png", "id03/000.png"]),
        (["id04", "id05"], ["id04/000.png", "id05/000.png"]),
    ]
    assert report["duplicates"]["pairs"] == {"within": 2, "across": 2, "exact_within": 1, "exact_across": 1}
    assert report["duplicates"]["merge_candidates"] == [
        {"identities": ["id02", "id03"], "shared_photos": 1},
        {"identities": ["id04", "id05"], "shared_photos": 1},
    ]
    looser = audit(identity_folders(root), root, threshold=0.9, threads=2)  # the near miss joins at a lower threshold
    assert (["id06"], ["id06/000.png", "id06/001.png"]) in groups(looser, "within")


def test_a_clean_set_reports_no_duplicates_and_its_identity_figures(tmp_path):
    seeds = iter(range(100))
    for identity, photos in enumerate([1, 2, 3, 5]):
        for i in range(photos):
            write_image(tmp_path / f"id{identity:02d}/{i:03d}.png", photo(next(seeds)))
    report = audit(identity_folders(tmp_path), tmp_path, threads=2)
    duplicates = report["duplicates"]
    assert duplicates["within"] == duplicates["across"] == duplicates["merge_candidates"] == []
    assert duplicates["pairs"] == {"within": 0, "across": 0, "exact_within": 0, "exact_across": 0}
    people = report["identities"]
    assert (people["count"], people["min"], people["median"], people["max"]) == (4, 1, 2.5, 5)
    assert people["histogram"] == {"<2": 1, "2-3": 2, "4-7": 1}
    assert people["under_two"] == ["id00"] and people["largest"][0] == ["id03", 5]
    assert report["unreadable"] == [] and report["read"] == report["images"] == 11


def test_an_unreadable_file_is_counted_and_named_and_the_rest_audited(tmp_path):
    root = write_duplicates(tmp_path / "faces")
    (root / "id06/002.jpg").write_bytes(b"not a jpeg")
    report = audit(identity_folders(root), root, threads=2)
    assert report["images"] == 14 and report["read"] == 13
    (unreadable,) = report["unreadable"]
    assert unreadable["path"].endswith("id06/002.jpg") and "not a decodable image" in unreadable["reason"]
    assert len(report["duplicates"]["within"]) == 2 and report["identities"]["max"] == 3


def test_small_images_and_the_alignment_manifests_source_sizes(tmp_path):
    write_image(tmp_path / "id00/000.png", photo(0))
    write_image(tmp_path / "id00/001.png", photo(1, size=32))
    records = [  # as mfr.align writes them: 000.png warped at scale 2 (from a 32 px square), one source not aligned
        {
            "source": "id00/000.png",
            "status": "aligned",
            "aligned": "id00/000.png",
            "transform": [[1.6, 1.2, 0.0], [-1.2, 1.6, 0.0]],
        },
        {
            "source": "id00/001.png",
            "status": "aligned",
            "aligned": "id00/001.png",
            "transform": [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]],
        },
        {"source": "id00/002.png", "status": "failed", "aligned": None, "transform": None},
    ]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    report = audit(identity_folders(tmp_path), tmp_path, threads=1)
    sizes = report["sizes"]
    assert sizes["smallest"] == {"key": "id00/001.png", "side": 32} and sizes["under"]["keys"] == ["id00/001.png"]
    faces = report["source_faces"]
    assert (faces["faces"], faces["not_aligned"]) == (2, 1)
    assert faces["smallest"] == {"key": "id00/000.png", "side": 32} and faces["under"]["count"] == 1  # 64 px / scale 2
    assert faces["median_side"] == 48  # (64 / 2 + 32 / 0.5) / 2


def test_similar_names_are_one_person_spelt_two_ways_and_ids_are_not_names():
    names = [
        "Anna_Berg",
        "Anna_K_Berg",
        "Jon_Smith",
        "John_Smith",
        "Lee_Chan",
        "Lee_Chen",
        "Mary_Jones",
        "Mary_Johnson",
        "Paul",
        "Pavel",
        "0000045",
        "0000046",
        "m.0abc12",
        "m.0abc13",
    ]
    assert similar_names(names) == [["Anna_Berg", "Anna_K_Berg"], ["John_Smith", "Jon_Smith"], ["Lee_Chan", "Lee_Chen"]]


def test_the_tiled_product_finds_every_pair_a_whole_product_does():
    rng = np.random.default_rng(0)
    thumbnails = rng.normal(size=(23, 8)).astype(np.float32)
    thumbnails /= np.linalg.norm(thumbnails, axis=1, keepdims=True)
    correlation = thumbnails @ thumbnails.T
    expected = [(i, j) for i in range(23) for j in range(i + 1, 23) if correlation[i, j] > 0.5]
    assert len(expected) > 10
    for block in (1, 4, 23, 64):
        assert sorted(zip(*(a.tolist() for a in similar_pairs(thumbnails, 0.5, block)))) == expected


def test_photo_groups_give_near_duplicates_one_id_and_twins_their_originals(tmp_path):
    root = tmp_path / "faces"
    for i, image in enumerate([photo(0), retouched(photo(0)), photo(1)]):  # id00: 000 ~ 001
        write_image(root / f"id00/{i:03d}.png", image)
    write_image(root / "id01/000.png", photo(1))  # the same photo as id00/002.png
    write_image(root / "id01/001.png", photo(2))
    table = open_faces(root, write_twins(root, tmp_path / "twins"))
    report = audit(table, root, threads=2)
    assert report["left_out_twins"] == 5 and report["images"] == 5
    write_audit(report, tmp_path / "audit.json")
    photo_id = photo_groups(table, tmp_path / "audit.json")
    row = {key: r for r, key in enumerate(table.keys)}
    of = {key: photo_id[row[key]] for key in table.keys}
    twin_of = {key: photo_id[table.twin[row[key]]] for key in table.keys if table.twin[row[key]] >= 0}
    assert of["id00/000.png"] == of["id00/001.png"] != of["id00/002.png"] == of["id01/000.png"] != of["id01/001.png"]
    assert of["id00/000.png"] != of["id01/001.png"]
    assert all(twin_of[key] == of[key] for key in twin_of) and len(twin_of) == 5
    assert sorted(set(photo_id.tolist())) == [0, 1, 2]
    assert (photo_groups(table, report) == photo_id).all()  # the dict serves as well as its file


def test_photo_groups_name_a_missing_or_foreign_audit_file(tmp_path):
    table = identity_folders(write_duplicates(tmp_path / "faces"))
    with pytest.raises(DataError, match="no such audit file"):
        photo_groups(table, tmp_path / "audit.json")
    (tmp_path / "other.json").write_text('{"images": 3}')
    with pytest.raises(DataError, match="other.json: not an audit"):
        photo_groups(table, tmp_path / "other.json")


def test_the_command_writes_audit_json_and_prints_a_summary(tmp_path, capsys):
    root = write_duplicates(tmp_path / "faces")
    assert main([str(root), "--out", str(tmp_path / "out/audit.json"), "--threads", "2"]) == 0
    printed = capsys.readouterr().out
    assert "13 images of 7 identities" in printed and "id02 = id03 (1), id04 = id05 (1)" in printed
    assert json.loads((tmp_path / "out/audit.json").read_text())["duplicates"]["pairs"]["across"] == 2


def test_the_command_names_a_missing_folder_in_one_line_and_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit, match="2"):
        main([str(tmp_path / "nowhere")])
    assert f"{tmp_path / 'nowhere'}: does not exist" in error_line(capsys.readouterr().err)
    assert not (tmp_path / "audit.json").exists()


@pytest.mark.slow  # real photos of ../shared through dlib
def test_real_photos(shared_data, tmp_path):
    """The realfaces set (../shared/README.md: 843 people, 12,879 photos, 5 to 530 a person, median 14), ~20 s: the
    names that are one person spelt two ways are found (no name is kept in the project), and exact copies."""
    report = audit(open_faces(shared_data / "realfaces"), shared_data / "realfaces", threads=2)
    people = report["identities"]
    assert (report["images"], report["read"], people["count"]) == (12879, 12879, 843)
    assert (people["min"], people["median"], people["max"]) == (5, 14, 530)
    assert len(people["similar_names"]) >= 4  # the four splits a colleague found by hand, and a few more
    assert report["duplicates"]["pairs"]["exact_within"] > 0 and report["sizes"]["under"]["count"] > 0
    assert report["seconds"]["compare"] < 10
