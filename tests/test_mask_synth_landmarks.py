"""mask_synth.landmarks: face-box maths, the plausibility check, the order of landmark paths and the checks a fit must pass.

The path logic is tested with stand-in models; dlib itself runs on an image of noise (no face) and,
skipped without ../shared, on the real RMFD subset.
"""

from pathlib import Path

import numpy as np
import pytest

from face_models import StandIn, face_in, finder
from mask_synth.landmarks import (
    BOX_SIDE_PER_RADIUS,
    CNN,
    CNN_FACE_SIDE,
    CNN_POSED,
    DETECTOR,
    FALLBACK_SOURCES,
    FIVE_POINT_ROWS,
    MAX_CNN_UPSCALE,
    PRIOR,
    PRIOR_ONLY,
    REFINED,
    TIGHT_CROP_BOX,
    UPSAMPLED,
    WHOLE_IMAGE,
    LandmarkFinder,
    NoFaceError,
    box_from_points,
    box_iou,
    calibrate,
    implausible,
)
from mask_synth.template import TEMPLATE_68, TEMPLATE_DEPTH, posed_landmarks

RMFD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rmfd_subset" / "AFDB_face_dataset"
needs_rmfd = pytest.mark.skipif(
    not RMFD.is_dir(), reason="the real RMFD subset (../shared/data/rmfd_subset) is not here"
)


def test_box_from_points_is_a_square_scaled_to_the_shape():
    points = TEMPLATE_68.astype(np.float64)
    box = box_from_points(points)
    radius = np.sqrt(((points - points.mean(0)) ** 2).sum(1).mean())
    assert np.isclose(box[2] - box[0], BOX_SIDE_PER_RADIUS * radius) and np.isclose(box[3] - box[1], box[2] - box[0])
    assert np.allclose(box_from_points(points * 2 + 5), box * 2 + 5)


def test_box_iou():
    a = np.array([0, 0, 10, 10.0])
    assert box_iou(a, a) == 1.0
    assert box_iou(a, np.array([5, 0, 15, 10.0])) == pytest.approx(50 / 150)
    assert box_iou(a, np.array([20, 20, 30, 30.0])) == 0.0


def test_implausible_shapes_are_named():
    good = TEMPLATE_68 * 2.0
    assert implausible(good, 224, 224) is None
    assert "too small" in implausible(TEMPLATE_68 * 0.1, 224, 224)
    flipped = good.copy()
    flipped[:, 1] = 224 - flipped[:, 1]  # mirrored top to bottom: the eye line is level, the chin above it
    assert "out of order" in implausible(flipped, 224, 224)
    tilted = good @ np.array([[np.cos(1.2), np.sin(1.2)], [-np.sin(1.2), np.cos(1.2)]])
    assert "tilted" in implausible(tilted, 224, 224)
    assert "outside" in implausible(good + 400, 224, 224)


BLANK = np.zeros((224, 224, 3), np.uint8)


def test_a_tight_crop_is_found_from_the_box_prior_without_detection():
    prior = np.array(TIGHT_CROP_BOX) * 224
    stand_in = StandIn(prior)
    found = finder(stand_in)(BLANK)
    assert found.source == PRIOR and stand_in.calls[0] == ("predict", tuple(np.round(prior, 1)))
    assert {kind for kind, _ in stand_in.calls} == {"predict"}  # checked by the predictor alone, no detector run


def test_an_off_centre_face_is_refined_once():
    prior = np.array(TIGHT_CROP_BOX) * 224
    stand_in = StandIn(prior + [30, 10, 30, 10])  # overlaps the prior, not enough to be its fixed point
    stand_in.predict = lambda gray, box: face_in(
        np.asarray(box) + [30, 10, 30, 10] if box_iou(np.asarray(box), prior) > 0.99 else stand_in.true_box
    )
    assert finder(stand_in)(BLANK).source == REFINED


def test_the_detector_takes_over_when_the_prior_fails_then_its_upsampled_run():
    face = np.array([120, 120, 200, 200.0])
    stand_in = StandIn(face, detections=[face])
    assert finder(stand_in)(BLANK).source == DETECTOR
    stand_in = StandIn(face, upsampled=[face])
    assert finder(stand_in)(BLANK).source == UPSAMPLED
    stand_in = StandIn(face, detections=[face])
    found = finder(stand_in, strategy="detect")(BLANK)
    assert found.source == DETECTOR and stand_in.calls[0] == ("detect", 0)


def test_the_cnn_detector_comes_after_the_cheap_paths_and_before_the_whole_image():
    face = np.array([60, 50, 180, 170.0])
    stand_in = StandIn(face, cnn=[face - [0, 11, 0, 11]])  # CNN boxes sit higher than the predictor's
    found = finder(stand_in, "detect", prior_box=(0.0, 0.0, 0.3, 0.3))
    found = found(BLANK)
    assert found.source == CNN and np.allclose(found.points, face_in(face))
    kinds = [kind for kind, _ in stand_in.calls if kind != "predict"]
    assert kinds == ["detect", "detect", "cnn"]  # HOG, HOG upsampled, then the CNN once: the face is found there


def test_the_cnn_runs_where_faces_are_about_100_px_cheapest_scale_first():
    tight = LandmarkFinder("tight", (0.0, 0.0, 1.0, 1.0), *(lambda *a: None,) * 4)
    assert tight.cnn_scales(250, 250) == [pytest.approx(CNN_FACE_SIDE / 200)]  # a face filling the image: one scale
    small_faces = LandmarkFinder("detect", (0.3, 0.3, 0.7, 0.7), *(lambda *a: None,) * 4)
    assert small_faces.cnn_scales(250, 250) == [pytest.approx(CNN_FACE_SIDE / 200), pytest.approx(CNN_FACE_SIDE / 100)]
    assert (
        LandmarkFinder("detect", (0.3, 0.3, 0.7, 0.7), *(lambda *a: None,) * 4).cnn_scales(60, 60)[-1]
        == MAX_CNN_UPSCALE
    )


def test_a_face_the_68_point_predictor_cannot_read_is_placed_by_the_posed_template_on_5_points():
    turned = posed_landmarks(TEMPLATE_68, TEMPLATE_DEPTH, yaw=np.radians(60.0), center=(56, 56)) * 1.5 + [
        30,
        20,
    ]  # a 3/4 profile
    face = box_from_points(turned)
    stand_in = StandIn(face, cnn=[face])
    stand_in.predict = lambda gray, box: face_in(np.asarray(box, float))  # rides the box wherever it is: never locked
    stand_in.predict_five = lambda gray, box: (turned if box_iou(np.asarray(box, float), face) > 0.5 else face_in(box))[
        FIVE_POINT_ROWS
    ]
    found = finder(stand_in, "detect")(BLANK)
    assert found.source == CNN_POSED
    assert np.abs(found.points - turned).max() < 1e-3  # all 68 points: the template in the pose the 5 points show


def test_the_whole_image_is_the_last_resort_and_may_still_fail():
    whole = np.array([0, 0, 223, 223.0])
    assert finder(StandIn(whole), "detect", prior_box=(0.6, 0.6, 0.9, 0.9))(BLANK).source == WHOLE_IMAGE
    with pytest.raises(NoFaceError, match="too small a face"):
        finder(StandIn(np.array([500, 500, 600, 600.0])))(BLANK)


def test_a_fit_that_rides_its_box_is_no_face_and_each_path_says_why():
    riding = StandIn(np.zeros(4))
    riding.predict = lambda gray, box: face_in(np.asarray(box, float))  # a face-like shape in any box: noise's answer
    with pytest.raises(NoFaceError) as error:
        finder(riding, "detect", prior_box=(0.1, 0.1, 0.9, 0.9))(BLANK)
    message = str(error.value)
    assert message.startswith("no face: detector: no face detected; cnn: no face detected; prior: ")
    assert message.count("not locked onto a face") == 2  # the prior's fit and the whole image's


def test_a_tight_datasets_prior_fit_that_does_not_lock_is_kept_only_as_a_fallback():
    prior = np.array(TIGHT_CROP_BOX) * 224
    riding = StandIn(prior)
    riding.predict = lambda gray, box: face_in(
        np.asarray(box, float)
    )  # a masked face: dlib's predictors do not lock on
    assert finder(riding, "tight")(BLANK).source == PRIOR_ONLY and PRIOR_ONLY in FALLBACK_SOURCES
    with pytest.raises(NoFaceError):  # where faces were not measured to sit at the prior box, nothing vouches for it
        finder(riding, "detect")(BLANK)


def test_a_torn_shape_or_eyes_outside_the_image_are_rejected():
    face = np.array([60, 50, 180, 170.0])
    torn = StandIn(face, detections=[face])
    scattered = face_in(face) + np.random.default_rng(0).normal(0, 20, (68, 2))  # points strewn by 0.4 eye distances
    torn.predict = lambda gray, box: scattered
    with pytest.raises(NoFaceError, match="not a face's shape"):
        finder(torn, "detect", prior_box=(0.6, 0.6, 0.9, 0.9))(BLANK)
    off = np.array([-60, 40, 80, 180.0])  # the face centred inside the image, its left eye beyond the left edge
    with pytest.raises(NoFaceError, match="eyes outside the image"):
        finder(StandIn(off, detections=[off]), "detect", prior_box=(0.6, 0.6, 0.9, 0.9))(BLANK)


def test_calibrate_measures_where_a_datasets_faces_sit():
    blank = np.zeros((200, 200, 3), np.uint8)

    def measured(boxes):
        boxes = iter(boxes)
        return calibrate(
            [blank] * 10, predict=lambda gray, box: face_in(box), detect=lambda gray, upsample: [next(boxes)]
        )

    same = np.array([40, 50, 160, 170.0])
    steady = measured([same + np.random.default_rng(i).normal(0, 2, 4) for i in range(10)])
    assert steady.strategy == "tight" and np.allclose(steady.prior_box, same / 200, atol=0.02) and steady.detected == 10
    scattered = measured(
        [np.array([x, y, x + 60, y + 60.0]) for x, y in np.random.default_rng(0).uniform(0, 140, (10, 2))]
    )
    assert scattered.strategy == "detect"
    few = calibrate([blank] * 10, predict=lambda gray, box: face_in(box), detect=lambda gray, upsample: [])
    assert few.strategy == "detect" and "too few" in few.describe() and "--landmarks tight" in few.describe()


@pytest.mark.slow
def test_random_noise_has_no_face():
    """dlib's own models on the image that the box prior used to 'mask' without complaint."""
    noise = np.random.default_rng(0).integers(0, 256, (160, 160, 3), dtype=np.uint8)
    with pytest.raises(
        NoFaceError, match="^no face: detector: no face detected; cnn: no face detected; prior: .*not locked"
    ):
        LandmarkFinder("detect", (0.2, 0.2, 0.8, 0.8))(noise)


@needs_rmfd
@pytest.mark.slow  # real photos of ../shared through dlib
def test_landmarks_are_found_on_nearly_all_real_tight_crops():
    from mask_synth.dataset import list_images, read_rgb

    sources, _ = list_images(RMFD)
    sample = sources[:: max(1, len(sources) // 150)]
    find = LandmarkFinder()
    outcomes = []
    for source in sample:
        try:
            outcomes.append(find(read_rgb(RMFD / source)).source)
        except NoFaceError:
            outcomes.append("failed")
    assert outcomes.count("failed") <= 0.01 * len(sample)
    assert outcomes.count(PRIOR) + outcomes.count(REFINED) >= 0.9 * len(sample)  # the fast path does the work
