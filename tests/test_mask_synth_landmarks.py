"""mask_synth.landmarks: face-box maths, the plausibility check and the order of landmark paths.

The path logic is tested with stand-in predictors; one test (skipped without ../shared) runs dlib on
the real RMFD subset.
"""

from pathlib import Path

import numpy as np
import pytest

from mask_synth.landmarks import (
    BOX_SIDE_PER_RADIUS,
    DETECTOR,
    PRIOR,
    REFINED,
    TIGHT_CROP_BOX,
    UPSAMPLED,
    WHOLE_IMAGE,
    LandmarkFinder,
    NoFaceError,
    box_from_points,
    calibrate,
    box_iou,
    implausible,
)
from mask_synth.template import TEMPLATE_68

RMFD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rmfd_subset" / "AFDB_face_dataset"
needs_rmfd = pytest.mark.skipif(not RMFD.is_dir(), reason="the real RMFD subset (../shared/data/rmfd_subset) is not here")


def face_in(box: np.ndarray) -> np.ndarray:
    """Template landmarks placed so that box_from_points gives exactly `box` (square)."""
    points = TEMPLATE_68.astype(np.float64)
    target_side = box[2] - box[0]
    current = box_from_points(points)
    points = (points - current[:2]) * (target_side / (current[2] - current[0])) + box[:2]
    return points.astype(np.float32)


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


class StandIn:
    """A predictor that finds the face at `true_box` only when given a box close to it, and a detector."""

    def __init__(self, true_box, detections=(), upsampled=(), near=0.5):
        self.true_box, self.detections, self.upsampled, self.calls = np.asarray(true_box, float), list(detections), list(upsampled), []
        self.near = near

    def predict(self, gray, box):
        self.calls.append(("predict", tuple(np.round(box, 1))))
        near = box_iou(np.asarray(box, float), self.true_box) > self.near
        return face_in(self.true_box if near else np.array([0, 0, 5, 5.0]))  # far off: a tiny, implausible fit

    def detect(self, gray, upsample):
        self.calls.append(("detect", upsample))
        return [np.asarray(b, float) for b in (self.detections if upsample == 0 else self.upsampled)]


def finder(stand_in, strategy="tight"):
    return LandmarkFinder(strategy, predict=stand_in.predict, detect=stand_in.detect)


def test_a_tight_crop_is_found_from_the_box_prior_without_detection():
    prior = np.array(TIGHT_CROP_BOX) * 224
    stand_in = StandIn(prior)
    found = finder(stand_in)(np.zeros((224, 224, 3), np.uint8))
    assert found.source == PRIOR and stand_in.calls == [("predict", tuple(np.round(prior, 1)))]


def test_an_off_centre_face_is_refined_once():
    prior = np.array(TIGHT_CROP_BOX) * 224
    stand_in = StandIn(prior + [30, 10, 30, 10])  # overlaps the prior, not enough to be its fixed point
    stand_in.predict = lambda gray, box: face_in(np.asarray(box) + [30, 10, 30, 10] if box_iou(np.asarray(box), prior) > 0.99 else stand_in.true_box)
    assert finder(stand_in)(np.zeros((224, 224, 3), np.uint8)).source == REFINED


def test_the_detector_takes_over_when_the_prior_fails_then_its_upsampled_run():
    face = np.array([120, 120, 200, 200.0])
    stand_in = StandIn(face, detections=[face])
    assert finder(stand_in)(np.zeros((224, 224, 3), np.uint8)).source == DETECTOR
    stand_in = StandIn(face, upsampled=[face])
    assert finder(stand_in)(np.zeros((224, 224, 3), np.uint8)).source == UPSAMPLED
    stand_in = StandIn(face, detections=[face])
    found = finder(stand_in, strategy="detect")(np.zeros((224, 224, 3), np.uint8))
    assert found.source == DETECTOR and stand_in.calls[0] == ("detect", 0)


def test_the_whole_image_is_the_last_resort_and_may_still_fail():
    whole = np.array([0, 0, 223, 223.0])
    assert finder(StandIn(whole, near=0.95))(np.zeros((224, 224, 3), np.uint8)).source == WHOLE_IMAGE
    with pytest.raises(NoFaceError, match="too small a face"):
        finder(StandIn(np.array([500, 500, 600, 600.0])))(np.zeros((224, 224, 3), np.uint8))


def test_calibrate_measures_where_a_datasets_faces_sit():
    blank = np.zeros((200, 200, 3), np.uint8)

    def measured(boxes):
        boxes = iter(boxes)
        return calibrate([blank] * 10, predict=lambda gray, box: face_in(box), detect=lambda gray, upsample: [next(boxes)])

    same = np.array([40, 50, 160, 170.0])
    steady = measured([same + np.random.default_rng(i).normal(0, 2, 4) for i in range(10)])
    assert steady.strategy == "tight" and np.allclose(steady.prior_box, same / 200, atol=0.02) and steady.detected == 10
    scattered = measured([np.array([x, y, x + 60, y + 60.0]) for x, y in np.random.default_rng(0).uniform(0, 140, (10, 2))])
    assert scattered.strategy == "detect"
    few = calibrate([blank] * 10, predict=lambda gray, box: face_in(box), detect=lambda gray, upsample: [])
    assert few.strategy == "tight" and few.prior_box == TIGHT_CROP_BOX and "too few" in few.describe()


@needs_rmfd
def test_landmarks_are_found_on_nearly_all_real_tight_crops():
    from mask_synth.dataset import list_images, read_rgb

    sources, _ = list_images(RMFD)
    sample = sources[:: max(1, len(sources) // 300)]
    find = LandmarkFinder()
    outcomes = []
    for source in sample:
        try:
            outcomes.append(find(read_rgb(RMFD / source)).source)
        except NoFaceError:
            outcomes.append("failed")
    assert outcomes.count("failed") <= 0.01 * len(sample)
    assert outcomes.count(PRIOR) + outcomes.count(REFINED) >= 0.9 * len(sample)  # the fast path does the work
