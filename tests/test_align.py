"""`python -m mfr.align`: the similarity transform, the alignment job, and its hand-over to mask_synth --aligned."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from face_models import face_in
from mask_synth import runner
from mask_synth.cli import main as mask_synth_main
from mask_synth.dataset import list_images, read_rgb
from mask_synth.landmarks import CNN, CNN_BOX_DROP, FIVE_POINT_ROWS, LandmarkFinder, Landmarks, box_from_points, box_iou
from mask_synth.template import ARCFACE_5, TEMPLATE_68
from mfr.align import AlignJob, apply_transform, five_points, similarity_transform
from mfr.align import main as align_main
from mfr.data.demo.faces import draw_face, sample_identity, sample_shot

RMFD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rmfd_subset" / "AFDB_face_dataset"
needs_rmfd = pytest.mark.skipif(
    not RMFD.is_dir(), reason="the real RMFD subset (../shared/data/rmfd_subset) is not here"
)


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
        nudged = similarity(
            np.hypot(*best[:, 0]) * rng.uniform(0.98, 1.02),
            np.arctan2(best[1, 0], best[0, 0]) + rng.normal(0, 0.02),
            best[:, 2] + rng.normal(0, 0.3, 2),
        )
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


def write_photos(root: Path, count: int = 4) -> dict[bytes, np.ndarray]:
    """Faces drawn at 96 px, then placed off-centre, rotated and scaled in 160 px photos; their true landmarks by pixels."""
    truth = {}
    for i in range(count):
        rng = np.random.default_rng(i)
        face, points = draw_face(sample_identity(rng), sample_shot(rng, 0.5), 96, rng)
        placement = similarity(1.2, 0.25 * (i - 1.5), [30.0 + 5 * i, 10.0])
        photo = cv2.warpAffine(face, placement, (160, 160), borderMode=cv2.BORDER_REFLECT)
        (root / f"id{i % 2}").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / f"id{i % 2}" / f"{i}.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
        truth[photo.tobytes()] = apply_transform(placement, points).astype(np.float32)
    return truth


def test_align_writes_arcface_crops_and_landmarks_that_mask_synth_reuses(tmp_path, capsys):
    root, out, masked = tmp_path / "photos", tmp_path / "aligned", tmp_path / "masked"
    StandInAlign.truth = write_photos(root)
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


class OnlyTheCnnFindsIt(AlignJob):
    """AlignJob whose LandmarkFinder has stand-in models: the HOG detector finds nothing (it notes which photo it
    was shown), the CNN detector boxes that photo's face, and the 68-point predictor locks onto the face from a
    box near it; from any other box its points ride the box (no face)."""

    truth: dict = {}

    def setup(self):
        shown = {}

        def detect(gray, upsample):
            shown["points"] = self.truth[gray.tobytes()]
            return []

        def detect_cnn(rgb):  # runs on a scaled copy of the photo the HOG detector was shown
            box = box_from_points(shown["points"]) - np.array([0, CNN_BOX_DROP, 0, CNN_BOX_DROP]) * 100
            return [box * rgb.shape[1] / 160]

        def predict(gray, box):
            points = self.truth[gray.tobytes()]
            return (
                points
                if box_iou(np.asarray(box, float), box_from_points(points)) > 0.6
                else face_in(np.asarray(box, float))
            )

        self._finder = LandmarkFinder(
            "detect",
            (0.0, 0.0, 0.3, 0.3),
            predict=predict,
            detect=detect,
            detect_cnn=detect_cnn,
            predict_five=lambda gray, box: predict(gray, box)[FIVE_POINT_ROWS],
        )


def test_the_cnn_path_is_recorded_in_the_manifest(tmp_path):
    root, out = tmp_path / "photos", tmp_path / "aligned"
    truth = write_photos(root, 2)
    OnlyTheCnnFindsIt.truth = {
        cv2.cvtColor(np.frombuffer(k, np.uint8).reshape(160, 160, 3), cv2.COLOR_RGB2GRAY).tobytes(): v
        for k, v in truth.items()
    }
    result = runner.run(OnlyTheCnnFindsIt(str(root), str(out)), list_images(root)[0], out, progress=False)
    assert result.statuses == {"aligned": 2}
    for record in runner.load_records(out).values():
        assert record["landmark_source"] == CNN
        assert np.abs(five_points(np.array(record["landmarks"])) - ARCFACE_5).max() < 4.0


def test_a_picture_of_noise_has_no_face_for_either_tool(tmp_path, capsys):
    """The image the box prior used to 'mask' without complaint: both command lines report it, with dlib's own models."""
    root = tmp_path / "photos"
    (root / "nobody").mkdir(parents=True)
    noise = np.random.default_rng(0).integers(0, 256, (160, 160, 3), dtype=np.uint8)
    cv2.imwrite(str(root / "nobody" / "noise.png"), noise)
    assert align_main([str(root), str(tmp_path / "aligned"), "--quiet"]) == 0
    assert mask_synth_main([str(root), str(tmp_path / "masked"), "--quiet"]) == 0
    for out in ("aligned", "masked"):
        (record,) = runner.load_records(tmp_path / out).values()
        assert record["status"] == "failed" and record["reason"].startswith(
            "no face: detector: no face detected; cnn: no face detected"
        )
    printed = capsys.readouterr().out
    assert (
        "align: 1 images: 0 aligned, 0 fallback, 1 failed" in printed
        and "mask_synth: 1 images: 0 masked, 0 fallback, 1 failed" in printed
    )


@needs_rmfd
@pytest.mark.slow  # real photos of ../shared through dlib
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
