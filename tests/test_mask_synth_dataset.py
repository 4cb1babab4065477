"""`python -m mask_synth INPUT OUTPUT`: whole datasets, on tiny synthetic faces written to tmp_path.

--aligned keeps these tests free of dlib: the faces are drawn where ArcFace alignment puts them.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import error_line
from mask_synth import MaskSpec, render_mask, runner
from mask_synth.cli import main
from mask_synth.dataset import list_images, read_rgb
from mask_synth.landmarks import Landmarks, NoFaceError
from mask_synth.synth import MaskJob
from mask_synth.template import template_landmarks
from mfr.data.demo.faces import draw_face, sample_identity, sample_shot

REPO = Path(__file__).resolve().parents[1]


def write_faces(root: Path, identities: int = 3, per_identity: int = 3, size: int = 64) -> list[str]:
    """Synthetic aligned faces as <identity>/<n>.jpg (one identity nests a folder, one image is a PNG)."""
    written = []
    for i in range(identities):
        rng = np.random.default_rng(i)
        person = sample_identity(rng)
        for n in range(per_identity):
            image, _ = draw_face(person, sample_shot(rng, 0.3), size, rng)
            name = f"id{i}/{'session/' if i == 2 else ''}{n}.{'png' if n == 1 else 'jpg'}"
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            written.append(name)
    return written


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "faces"
    good = write_faces(root)
    (root / "id0" / "broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    (root / "id1" / "empty.png").write_bytes(b"")
    (root / "notes.txt").write_text("not an image")
    return root, good


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_every_image_is_masked_or_reported(dataset, tmp_path, capsys):
    root, good = dataset
    out = tmp_path / "out"
    assert main([str(root), str(out), "--aligned", "--quiet", "--keep-original", "--format", "png"]) == 0
    records = {r["source"]: r for r in manifest(out)}
    assert set(records) == set(good) | {"id0/broken.jpg", "id1/empty.png"}
    assert (
        records["id0/broken.jpg"]["status"] == "failed"
        and "not a decodable image" in records["id0/broken.jpg"]["reason"]
    )
    assert records["id1/empty.png"]["status"] == "failed" and "empty file" in records["id1/empty.png"]["reason"]
    summary = capsys.readouterr().out
    assert f"{len(good) + 2} images: {len(good)} masked, 0 fallback, 2 failed" in summary

    for source in good:
        record = records[source]
        assert record["status"] == "masked" and record["identity"] == source.split("/")[0]
        assert record["landmark_source"] == "template"
        original = read_rgb(root / source)
        twin = read_rgb(out / record["masked"])
        mask_map = cv2.imread(str(out / record["mask_map"]), cv2.IMREAD_UNCHANGED)
        assert set(np.unique(mask_map)) == {0, 1}
        assert (out / record["original"]).read_bytes() == (root / source).read_bytes()
        # the record alone reproduces the twin and its map
        again = render_mask(original, template_landmarks(64), MaskSpec(**record["spec"]), seed=record["seed"])
        assert np.array_equal(again.image, twin) and np.array_equal(again.mask, mask_map)
        assert np.array_equal(twin[again.alpha == 0], original[again.alpha == 0])


def test_same_seed_same_bytes_whatever_the_workers(dataset, tmp_path):
    root, _ = dataset
    assert main([str(root), str(tmp_path / "a"), "--aligned", "--quiet", "--seed", "4"]) == 0
    assert main([str(root), str(tmp_path / "b"), "--aligned", "--quiet", "--seed", "4", "--workers", "2"]) == 0
    assert main([str(root), str(tmp_path / "c"), "--aligned", "--quiet", "--seed", "5"]) == 0
    a, b, c = (files(tmp_path / d) for d in "abc")
    images = [k for k in a if k.startswith(("masked/", "mask_map/"))]
    assert images and all(a[k] == b[k] for k in images)
    assert sorted(manifest(tmp_path / "a"), key=lambda r: r["source"]) == sorted(
        manifest(tmp_path / "b"), key=lambda r: r["source"]
    )
    assert any(a[k] != c[k] for k in images if k.startswith("masked/"))


def test_an_interrupted_run_resumes_without_loss_or_duplicates(dataset, tmp_path):
    root, good = dataset
    sources, _ = list_images(root)
    clean = tmp_path / "clean"
    assert main([str(root), str(clean), "--aligned", "--quiet"]) == 0

    out = tmp_path / "out"
    job = MaskJob(str(root), str(out), aligned=True)
    seen = []

    def stop_after_three(record):
        seen.append(record["source"])
        if len(seen) == 3:
            raise KeyboardInterrupt  # what Ctrl-C does mid-run

    result = runner.run(job, sources, out, progress=False, on_record=stop_after_three)
    assert result.interrupted and result.pending == len(sources) - 3
    with open(out / "manifest.jsonl", "a") as f:
        f.write('{"source": "id2/ses')  # a record cut short by a killed process
    assert main([str(root), str(out), "--aligned", "--quiet"]) == 0
    records = manifest(out)
    assert sorted(r["source"] for r in records) == sorted(sources)  # each exactly once
    assert files(out) == files(clean) | {"manifest.jsonl": (out / "manifest.jsonl").read_bytes()}


@pytest.mark.slow
def test_a_killed_run_loses_only_what_was_in_flight(tmp_path):
    root = tmp_path / "faces"
    sources = write_faces(root, identities=12, per_identity=20, size=48)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "mask_synth", str(root), str(out), "--aligned", "--quiet", "--workers", "2"]
    process = subprocess.Popen(
        command, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 60
    while time.time() < deadline and process.poll() is None:
        if (out / "manifest.jsonl").exists() and len((out / "manifest.jsonl").read_bytes().splitlines()) >= 10:
            break
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(runner.read_manifest(out / "manifest.jsonl"))
    assert 10 <= done_before < len(sources)
    assert subprocess.run(command, cwd=REPO, capture_output=True).returncode == 0
    records = runner.read_manifest(out / "manifest.jsonl")
    assert sorted(r["source"] for r in records) == sorted(sources) and all(r["status"] == "masked" for r in records)
    for record in records:  # every output is whole
        assert read_rgb(out / record["masked"]).shape == (48, 48, 3)


def test_shards_split_the_dataset_between_them(dataset, tmp_path):
    root, _ = dataset
    sources, _ = list_images(root)
    out = tmp_path / "out"
    for shard in ("0/2", "1/2"):
        assert main([str(root), str(out), "--aligned", "--quiet", "--shard", shard]) == 0
    parts = [runner.read_manifest(out / f"manifest-00{i}-of-002.jsonl") for i in range(2)]
    names = [{r["source"] for r in part} for part in parts]
    assert names[0] and names[1] and not names[0] & names[1] and names[0] | names[1] == set(sources)
    assert set(runner.load_records(out)) == set(sources)


def test_a_resumed_run_must_use_the_same_options(dataset, tmp_path, capsys):
    root, _ = dataset
    out = tmp_path / "out"
    assert main([str(root), str(out), "--aligned", "--quiet"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit, match="2"):
        main([str(root), str(out), "--aligned", "--quiet", "--seed", "1"])
    assert "seed: 0 there, 1 now" in error_line(capsys.readouterr().err)


def test_an_image_without_a_face_is_reported(dataset, tmp_path):
    root, good = dataset

    class NoFaceInId1(MaskJob):
        def setup(self):
            self._given = {}

            def find(image):
                raise NoFaceError("no face: stand-in finder")

            self._finder = find

        def find_landmarks(self, source, image):
            if source.startswith("id1/"):
                return self._finder(image)
            return Landmarks(template_landmarks(image.shape[0]), "template")

    out = tmp_path / "out"
    result = runner.run(NoFaceInId1(str(root), str(out)), list_images(root)[0], out, progress=False)
    failed = {r["source"]: r["reason"] for r in manifest(out) if r["status"] == "failed"}
    assert {s for s in good if s.startswith("id1/")} <= set(failed)
    assert failed["id1/0.jpg"] == "no face: stand-in finder"
    assert result.statuses == {"masked": len(good) - 3, "failed": 3 + 2}
    assert sum(result.statuses.values()) == result.total and result.pending == 0


def test_outputs_that_would_overwrite_each_other_are_refused(dataset, tmp_path):
    root, good = dataset
    (root / "id0" / "0.png").write_bytes((root / "id0" / "0.jpg").read_bytes())  # x.jpg and x.png: one mask map name
    out = tmp_path / "out"
    assert main([str(root), str(out), "--aligned", "--quiet"]) == 0
    records = {r["source"]: r for r in manifest(out)}
    assert records["id0/0.jpg"]["status"] == "masked"
    assert (
        records["id0/0.png"]["status"] == "failed"
        and "would overwrite that of id0/0.jpg" in records["id0/0.png"]["reason"]
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["{missing}", "{out}"], "not a folder"),
        (["{root}", "{root}/out", "--aligned"], "is inside INPUT"),
        (["{root}", "{out}", "--types", "scarf"], "unknown mask type 'scarf'"),
        (["{root}", "{out}", "--colors", "300,0,0"], "0-255"),
        (["{root}", "{out}", "--shard", "3/2"], "--shard='3/2'; allowed: i/n with 0 <= i < n"),
        (["{root}", "{out}", "--quality", "high"], "argument --quality: invalid int value: 'high'"),
    ],
)
def test_bad_command_lines_are_refused_in_one_line(dataset, tmp_path, capsys, args, message):
    root, _ = dataset
    paths = {"missing": tmp_path / "missing", "out": tmp_path / "out", "root": root}
    with pytest.raises(SystemExit, match="2"):
        main([arg.format(**paths) for arg in args])
    assert message in error_line(capsys.readouterr().err)
