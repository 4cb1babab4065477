"""Find 68 face landmarks in one image with dlib, and record which path found them.

dlib's HOG detector is slow (about 24 ms a 224 px crop with upsampling here) and misses nearly half
of the faces in tight crops such as RMFD's, whose face fills the frame. The shape predictor does
not need a detection, only a face box, so for tight crops we start from a fixed box prior and let
the predictor place the points. A fit is kept when it is self-consistent: the box the points imply
(`box_from_points`) must agree with the box they were predicted from, one refinement step is
allowed, and the shape must pass a plausibility check. Only then do we pay for the detector, and
the whole image as the face box is the last resort. The `source` of every result says which path
was used, so a dataset's manifest shows how each mask was placed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mask_synth.template import CHIN, LEFT_EYE, NOSE_TIP, OUTER_LIPS, RIGHT_EYE

# Sources, in the order `LandmarkFinder` prefers them, plus the two that need no detection.
PRIOR, REFINED, DETECTOR, UPSAMPLED, WHOLE_IMAGE = "prior", "prior-refined", "detector", "detector-upsampled", "whole-image"
TEMPLATE, GIVEN = "template", "given"
FALLBACK_SOURCES = (WHOLE_IMAGE,)  # landmarks found this way are usable but less trustworthy

# The face box of a tight crop, as fractions of width and height (left, top, right, bottom): the
# mean box that `box_from_points` converges to on the RMFD subset's 224 px crops. `calibrate`
# measures a dataset's own box instead.
TIGHT_CROP_BOX = (0.035, 0.13, 0.93, 1.02)
# dlib's HOG boxes against the 68 points they give, fitted on the RMFD crops the detector finds:
# a square of side 2.79 times the points' RMS radius, centred 0.116 radius above their centroid.
BOX_SIDE_PER_RADIUS = 2.79
BOX_RISE_PER_RADIUS = 0.116
# A fit is self-consistent when its implied box overlaps the box it came from by this IoU.
CONSISTENT_IOU = 0.7
MIN_EYE_DISTANCE = 8.0  # pixels; dlib's predictor cannot place 68 points on a smaller face


class NoFaceError(RuntimeError):
    """No plausible 68-point shape was found; the message says what was tried."""


@dataclass(frozen=True)
class Landmarks:
    points: np.ndarray  # (68, 2) float32, image pixels
    source: str  # which path found them (one of the module's source names)


def predictor_path(name: str = "shape_predictor_68_face_landmarks.dat") -> Path:
    """A model file shipped by the `face_recognition_models` package (located, never imported)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "mask_synth needs dlib's 68-point shape predictor from the face_recognition_models package: "
            "pip install face_recognition_models"
        )
    path = Path(spec.origin).parent / "models" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall face_recognition_models")
    return path


def box_from_points(points: np.ndarray) -> np.ndarray:
    """The face box (left, top, right, bottom) that dlib's detector would give for these points."""
    centre = points.mean(0)
    radius = float(np.sqrt(((points - centre) ** 2).sum(1).mean()))
    cx, cy = centre[0], centre[1] - BOX_RISE_PER_RADIUS * radius
    half = BOX_SIDE_PER_RADIUS * radius / 2
    return np.array([cx - half, cy - half, cx + half, cy + half])


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def implausible(points: np.ndarray, width: int, height: int) -> str | None:
    """Why a 68-point shape cannot be a face in this image, or None when it can.

    Guards against gross failures only: the eye line may tilt up to 50 degrees, and going down the
    face (perpendicular to the eye line) the eyes, nose tip, mouth and chin must come in order.
    """
    left, right = points[LEFT_EYE].mean(0), points[RIGHT_EYE].mean(0)
    across = right - left
    eye_distance = float(np.hypot(*across))
    if eye_distance < MIN_EYE_DISTANCE:
        return f"eyes {eye_distance:.1f} px apart: too small a face"
    if abs(np.degrees(np.arctan2(across[1], across[0]))) > 50:
        return "eye line tilted more than 50 degrees"
    down = np.array([-across[1], across[0]]) / eye_distance
    mid = (left + right) / 2
    depths = [float((p - mid) @ down) for p in (points[NOSE_TIP], points[OUTER_LIPS].mean(0), points[CHIN])]
    if not (0 < depths[0] < depths[1] < depths[2]):
        return "eyes, nose, mouth and chin out of order"
    centre = points.mean(0)
    if not (0 <= centre[0] < width and 0 <= centre[1] < height):
        return "face centre outside the image"
    return None


@dataclass(frozen=True)
class Calibration:
    """Where a dataset's faces sit, measured with dlib's detector on a sample: the box prior to use and
    whether faces sit there consistently enough for the prior to go first (strategy tight) or not (detect)."""

    strategy: str
    prior_box: tuple[float, float, float, float]
    sampled: int
    detected: int
    consistent: int

    def describe(self) -> str:
        if self.detected < MIN_DETECTIONS:
            return (f"the detector found {self.detected} of {self.sampled} sampled faces, too few to measure where faces sit: "
                    f"assuming tight face crops (box prior {self.prior_box})")
        return (f"the detector found {self.detected} of {self.sampled} sampled faces, {self.consistent} of them within the median "
                f"face box {self.prior_box}: {'box prior first (tight)' if self.strategy == 'tight' else 'detector first (detect)'}")


MIN_DETECTIONS = 5  # detections needed to trust a measured face box
SAME_PLACE_IOU = 0.6  # a sampled face sits at the median box when its box overlaps it this much
CONSISTENT_SHARE = 0.8  # share of sampled faces that must sit there for the box prior to go first


def calibrate(images, predict: Callable, detect: Callable) -> Calibration:
    """Measure where the faces of a dataset sit (box fractions) from a sample of its images (RGB)."""
    boxes, sampled = [], 0
    for image in images:
        sampled += 1
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        h, w = gray.shape
        faces = detect(gray, 1)
        if faces:
            points = predict(gray, max(faces, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])))
            if implausible(points, w, h) is None:
                boxes.append(box_from_points(points) / np.array([w, h, w, h]))
    if len(boxes) < MIN_DETECTIONS:
        return Calibration("tight", TIGHT_CROP_BOX, sampled, len(boxes), 0)
    median = np.median(boxes, 0)
    consistent = sum(box_iou(box, median) >= SAME_PLACE_IOU for box in boxes)
    strategy = "tight" if consistent >= CONSISTENT_SHARE * len(boxes) else "detect"
    return Calibration(strategy, tuple(round(float(v), 4) for v in median), sampled, len(boxes), int(consistent))


def dlib_models() -> tuple[Callable, Callable]:
    """dlib's 68-point shape predictor and HOG face detector, as `predict(gray, box) -> (68, 2)` and
    `detect(gray, upsample) -> [box, ...]` (boxes as left, top, right, bottom)."""
    import dlib  # imported here so that aligned inputs and the renderer never need it

    predictor = dlib.shape_predictor(str(predictor_path()))
    detector = dlib.get_frontal_face_detector()

    def predict(gray: np.ndarray, box: np.ndarray) -> np.ndarray:
        shape = predictor(gray, dlib.rectangle(*(int(round(v)) for v in box)))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    def detect(gray: np.ndarray, upsample: int) -> list[np.ndarray]:
        return [np.array([r.left(), r.top(), r.right(), r.bottom()], np.float64) for r in detector(gray, upsample)]

    return predict, detect


class LandmarkFinder:
    """68 landmarks for one RGB image: box prior first (`tight`), or dlib's detector first (`detect`).

    Both strategies end with the other's path and then the whole image as the face box; a result
    from that last resort is still checked for plausibility and is marked `whole-image`. The dlib
    models can be replaced by any `predict` and `detect` with the signatures of `dlib_models`.
    """

    def __init__(
        self,
        strategy: str = "tight",
        prior_box: tuple[float, float, float, float] = TIGHT_CROP_BOX,
        predict: Callable | None = None,
        detect: Callable | None = None,
    ):
        if strategy not in ("tight", "detect"):
            raise ValueError(f"landmark strategy {strategy!r}: choose tight or detect")
        self.strategy = strategy
        self.prior_box = tuple(float(v) for v in prior_box)  # plain values: part of how the finder describes itself
        if predict is None or detect is None:
            default_predict, default_detect = dlib_models()
            predict, detect = predict or default_predict, detect or default_detect
        self.predict, self.detect = predict, detect

    def from_prior(self, gray: np.ndarray) -> Landmarks | None:
        """Fit from the box prior; accept it, or its one refinement, when self-consistent and plausible."""
        h, w = gray.shape
        box = np.array(self.prior_box) * np.array([w, h, w, h])
        for source in (PRIOR, REFINED):
            points = self.predict(gray, box)
            implied = box_from_points(points)
            if box_iou(box, implied) >= CONSISTENT_IOU and implausible(points, w, h) is None:
                return Landmarks(points, source)
            box = implied
        return None

    def from_detector(self, gray: np.ndarray) -> Landmarks | None:
        h, w = gray.shape
        for upsample, source in ((0, DETECTOR), (1, UPSAMPLED)):
            faces = self.detect(gray, upsample)
            if faces:
                box = max(faces, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
                points = self.predict(gray, box)
                if implausible(points, w, h) is None:
                    return Landmarks(points, source)
        return None

    def __call__(self, image: np.ndarray) -> Landmarks:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        h, w = gray.shape
        paths = (self.from_prior, self.from_detector) if self.strategy == "tight" else (self.from_detector, self.from_prior)
        for path in paths:
            found = path(gray)
            if found is not None:
                return found
        points = self.predict(gray, np.array([0, 0, w - 1, h - 1], np.float64))
        reason = implausible(points, w, h)
        if reason is not None:
            raise NoFaceError(f"no face: box prior and detector failed, whole-image fit implausible ({reason})")
        return Landmarks(points, WHOLE_IMAGE)
