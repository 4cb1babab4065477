"""`python -m mfr.align`: the similarity transform, the alignment job, and its hand-over to mask_synth --aligned."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mask_synth import runner
from mask_synth.cli import main as mask_synth_main
from mask_synth.dataset import list_images, read_rgb
from mask_synth.landmarks import Landmarks
from mask_synth.template import ARCFACE_5, TEMPLATE_68
from mfr.align import AlignJob, apply_transform, five_points, similarity_transform
from mfr.data.demo_faces import draw_face, sample_identity, sample_shot

RMFD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rmfd_subset" / "AFDB_face_dataset"
needs_rmfd = pytest.mark.skipif(not RMFD.is_dir(), reason="the real RMFD subset (../shared/data/rmfd_subset) is not here")


def similarity(scale: float, angle: float, shift) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.hstack([scale * np.array([[c, -s], [s, c]]), np.asarray(shift, float)[:, None]])


def test_similarity_transform_recovers_an_exact_similarity():
    src = np.array([[10.0, 20], [40, 18], [25, 35], [14, 50], [38, 52]])
    truth = similarity(1.7, 0.4, [5.0, -3.0])
    assert np.allclose(similarity_transform(src, apply_transform(truth, src)), truth)


def test_similarity_transform_is_the_least_squares_fit_and_never_reflects():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    dst = apply_transform(similarity(0.8, -0.3, [7.0, 2.0]), src) + rng.normal(0, 1.0, (5, 2))
    best = similarity_transform(src, dst)
    error = lambda m: ((apply_transform(m, src) - dst) ** 2).sum()  # noqa: E731
    for _ in range(200):  # no nearby similarity does better
        nudged = similarity(np.hypot(*best[:, 0]) * rng.uniform(0.98, 1.02), np.arctan2(best[1, 0], best[0, 0]) + rng.normal(0, 0.02), best[:, 2] + rng.normal(0, 0.3, 2))
        assert error(nudged) >= error(best) - 1e-9
    mirrored = src * [-1, 1]
    assert np.linalg.det(similarity_transform(src, mirrored)[:, :2]) > 0


def test_five_points_of_the_template_are_arcface_points():
    assert np.allclose(five_points(TEMPLATE_68), ARCFACE_5, atol=1e-4)


class StandInAlign(AlignJob):
    """AlignJob with the drawn faces' exact landmarks instead of dlib's."""

    truth: dict = {}

    def setup(self):
        self._finder = lambda image: Landmarks(self.truth[image.tobytes()], "prior")


def test_align_writes_arcface_crops_and_landmarks_that_mask_synth_reuses(tmp_path, capsys):
    root, out, masked = tmp_path / "photos", tmp_path / "aligned", tmp_path / "masked"
    truth = {}
    for i in range(4):  # faces drawn at 96 px, then placed off-centre, rotated and scaled in a 160 px photo
        rng = np.random.default_rng(i)
        face, points = draw_face(sample_identity(rng), sample_shot(rng, 0.5), 96, rng)
        placement = similarity(1.2, 0.25 * (i - 1.5), [30.0 + 5 * i, 10.0])
        photo = cv2.warpAffine(face, placement, (160, 160), borderMode=cv2.BORDER_REFLECT)
        (root / f"id{i % 2}").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / f"id{i % 2}" / f"{i}.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
        truth[photo.tobytes()] = apply_transform(placement, points).astype(np.float32)
    StandInAlign.truth = truth
    sources, _ = list_images(root)
    result = runner.run(StandInAlign(str(root), str(out)), sources, out, progress=False)
    assert result.statuses == {"aligned": 4}
    for record in runner.load_records(out).values():
        aligned = read_rgb(out / record["aligned"])
        assert aligned.shape == (112, 112, 3)
        landmarks = np.array(record["landmarks"])
        assert np.abs(five_points(landmarks) - ARCFACE_5).max() < 4.0  # on the template
        left, right = landmarks[36:42].mean(0), landmarks[42:48].mean(0)
        assert abs(left[1] - right[1]) < 2.0  # eyes level
    assert json.loads((out / "align.json").read_text())["size"] == 112

    assert mask_synth_main([str(out), str(masked), "--aligned", "--quiet"]) == 0
    records = runner.load_records(masked)
    assert {r["landmark_source"] for r in records.values()} == {"given"}  # mfr.align's landmarks, not the template
    assert "2 files under" in capsys.readouterr().err  # align.json and manifest.jsonl are left alone


@needs_rmfd
def test_align_aligns_nearly_all_of_the_real_subset(tmp_path):
    sources, _ = list_images(RMFD)
    sample = sources[:: max(1, len(sources) // 120)]
    out = tmp_path / "aligned"
    result = runner.run(AlignJob(str(RMFD), str(out)), sample, out, progress=False)
    assert result.statuses.get("failed", 0) <= 0.01 * len(sample)
    eye_tilt = []
    for record in runner.load_records(out).values():
        if record["status"] != "failed":
            landmarks = np.array(record["landmarks"])
            eye_tilt.append(abs(landmarks[36:42].mean(0)[1] - landmarks[42:48].mean(0)[1]))
    assert np.median(eye_tilt) < 2.5  # about 4 degrees over 35 px: five points fitted together, eyes near level
