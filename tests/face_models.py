"""Stand-in face models for LandmarkFinder (the signatures of mask_synth.landmarks.FaceModels), for the tests of
the landmark paths and of the tools built on them: a face placed exactly where a test wants it, no dlib."""

from __future__ import annotations

import numpy as np

from mask_synth.landmarks import FIVE_POINT_ROWS, TIGHT_CROP_BOX, LandmarkFinder, box_from_points, box_iou
from mask_synth.template import TEMPLATE_68


def face_in(box: np.ndarray) -> np.ndarray:
    """Template landmarks placed so that box_from_points gives exactly `box` (square)."""
    points = TEMPLATE_68.astype(np.float64)
    target_side = box[2] - box[0]
    current = box_from_points(points)
    points = (points - current[:2]) * (target_side / (current[2] - current[0])) + box[:2]
    return points.astype(np.float32)


class StandIn:
    """Stand-in models for a 224 px image: the predictors find the face at `true_box` only when given a box close
    to it (elsewhere a tiny, implausible shape), the detectors return the boxes they are given."""

    def __init__(self, true_box, detections=(), upsampled=(), cnn=(), near=0.5):
        self.true_box, self.detections, self.upsampled, self.calls = (
            np.asarray(true_box, float),
            list(detections),
            list(upsampled),
            [],
        )
        self.cnn, self.near = list(cnn), near

    def predict(self, gray, box):
        self.calls.append(("predict", tuple(np.round(box, 1))))
        near = box_iou(np.asarray(box, float), self.true_box) > self.near
        return face_in(self.true_box if near else np.array([0, 0, 5, 5.0]))  # far off: a tiny, implausible fit

    def predict_five(self, gray, box):
        return self.predict(gray, box)[FIVE_POINT_ROWS]

    def detect(self, gray, upsample):
        self.calls.append(("detect", upsample))
        return [np.asarray(b, float) for b in (self.detections if upsample == 0 else self.upsampled)]

    def detect_cnn(self, rgb):
        self.calls.append(("cnn", rgb.shape[1]))
        return [np.asarray(b, float) * rgb.shape[1] / 224 for b in self.cnn]  # the finder runs it on a scaled image


def finder(stand_in, strategy="tight", prior_box=TIGHT_CROP_BOX):
    return LandmarkFinder(
        strategy,
        prior_box,
        predict=stand_in.predict,
        detect=stand_in.detect,
        detect_cnn=stand_in.detect_cnn,
        predict_five=stand_in.predict_five,
    )
