"""Find 68 face landmarks in one image with dlib, check them, and record which path found them.

dlib's HOG detector is slow (about 24 ms a 224 px crop with upsampling here) and misses nearly half
of the faces in tight crops such as RMFD's, whose face fills the frame, and most profiles. The
shape predictor does not need a detection, only a face box, so for tight crops we start from a
fixed box prior and let the predictor place the points; one refinement step is allowed. Every fit
is then checked (`mask_synth.face_check`: a face's shape in some pose, locked onto the image, eyes
in the frame, a sensible size), because the predictor returns a face-like shape on anything. Only
when the cheap paths fail do we pay for dlib's CNN detector (about 0.3 s an image on a CPU core),
which finds turned and profile faces; the whole image as the face box is the last resort. The
`source` of every result says which path was used, so a dataset's manifest shows how each face was
placed, and an image no path can place is reported as having no face, with each path's reason.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mask_synth.face_check import (
    LOCKED_RESPONSE,
    box_response,
    out_of_frame,
    pose_fit,
    shape_problem,
    shifted_fits,
    tilted_or_tiny,
)
from mask_synth.template import CHIN, LEFT_EYE, NOSE_TIP, OUTER_LIPS, RIGHT_EYE
from mfr.errors import DataError

# Sources, in the order `LandmarkFinder` tries them (prior and detector swap with its strategy), plus two that need no detection.
PRIOR, REFINED, DETECTOR, UPSAMPLED = "prior", "prior-refined", "detector", "detector-upsampled"
CNN, CNN_POSED, WHOLE_IMAGE, PRIOR_ONLY = "cnn", "cnn-posed", "whole-image", "prior-only"
TEMPLATE, GIVEN = "template", "given"
FALLBACK_SOURCES = (WHOLE_IMAGE, PRIOR_ONLY)  # landmarks found this way are usable but less trustworthy

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
# dlib's CNN detector finds faces of about 80 px and more (its window) and costs in proportion to the pixels:
# images are scaled so that the face is about this big, upscaled at most this much.
CNN_FACE_SIDE = 100.0
MAX_CNN_UPSCALE = 2.0
# The CNN's boxes sit higher on the face than the HOG boxes the 68-point predictor was trained on: moved
# down by this share of their side (measured on 80 realfaces photos both detectors find: 0.088), they match.
CNN_BOX_DROP = 0.09
# dlib's 5-point predictor gives the eye corners (image right eye outer, inner; left eye outer, inner) and the
# base of the nose: these rows of the 68-point layout.
FIVE_POINT_ROWS = np.array([45, 42, 36, 39, 33])
FIVE_POINT_TOLERANCE = 0.25  # RMS distance of the 5 points to the posed template's, in template eye distances
# How far the 5 points may follow the box (face_check.box_response) in a detector's box: on realfaces' profiles the
# posed fits of response 1.5 to 2.5 still put eye and mouth in place (a contact sheet of 40); above, ever fewer do.
POSED_RESPONSE = 2.5
AXIS_SHIFTS = np.array([(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)])  # shifted right, left, down and up
# A face placed from 5 points that leans more than this from upright was, on CFP's profiles, more often a misfit than a tilted head.
POSED_MAX_TILT = 30.0
NOT_LOCKED = "the points follow the box: not locked onto a face"


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
        raise DataError(
            "mask_synth needs dlib's 68-point shape predictor from the face_recognition_models package: "
            "pip install face_recognition_models"
        )
    path = Path(spec.origin).parent / "models" / name
    if not path.is_file():
        raise DataError(f"{path} is missing: reinstall face_recognition_models")
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
            return (
                f"the detector found {self.detected} of {self.sampled} sampled faces, too few to measure where faces sit: "
                f"detector first (detect); if these are tight face crops (e.g. masked ones), say so with --landmarks tight"
            )
        return (
            f"the detector found {self.detected} of {self.sampled} sampled faces, {self.consistent} of them within the median "
            f"face box {self.prior_box}: {'box prior first (tight)' if self.strategy == 'tight' else 'detector first (detect)'}"
        )


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
    if len(boxes) < MIN_DETECTIONS:  # nothing known about where faces sit: nothing to trust a box prior on
        return Calibration("detect", TIGHT_CROP_BOX, sampled, len(boxes), 0)
    median = np.median(boxes, 0)
    consistent = sum(box_iou(box, median) >= SAME_PLACE_IOU for box in boxes)
    strategy = "tight" if consistent >= CONSISTENT_SHARE * len(boxes) else "detect"
    return Calibration(strategy, tuple(round(float(v), 4) for v in median), sampled, len(boxes), int(consistent))


@dataclass(frozen=True)
class FaceModels:
    """The models a LandmarkFinder uses; any stand-ins with these signatures will do (boxes: left, top, right, bottom).

    predict(gray, box) -> (68, 2) points; detect(gray, upsample) -> [box] (HOG, frontal and near-frontal);
    detect_cnn(rgb) -> [box] (CNN, any pose, faces of 80 px and more); predict_five(gray, box) -> (5, 2)
    points in dlib's 5-point order (FIVE_POINT_ROWS).
    """

    predict: Callable
    detect: Callable
    detect_cnn: Callable
    predict_five: Callable


@functools.lru_cache(maxsize=1)
def dlib_models() -> FaceModels:
    """dlib's 68- and 5-point shape predictors, its HOG face detector and its CNN (MMOD) face detector.

    Loaded once per process (about 5 s, the 68-point predictor and the HOG detector), so calibration
    and the job share them and worker processes forked afterwards inherit them.
    """
    import dlib  # imported here so that aligned inputs and the renderer never need it

    predictor = dlib.shape_predictor(str(predictor_path()))
    predictor_five = dlib.shape_predictor(str(predictor_path("shape_predictor_5_face_landmarks.dat")))
    detector = dlib.get_frontal_face_detector()
    cnn = dlib.cnn_face_detection_model_v1(str(predictor_path("mmod_human_face_detector.dat")))

    def shape(model, gray: np.ndarray, box: np.ndarray) -> np.ndarray:
        return np.array(
            [(p.x, p.y) for p in model(gray, dlib.rectangle(*(int(round(v)) for v in box))).parts()], np.float32
        )

    def detect(gray: np.ndarray, upsample: int) -> list[np.ndarray]:
        return [np.array([r.left(), r.top(), r.right(), r.bottom()], np.float64) for r in detector(gray, upsample)]

    def detect_cnn(rgb: np.ndarray) -> list[np.ndarray]:
        return [
            np.array([d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()], np.float64) for d in cnn(rgb, 0)
        ]

    return FaceModels(functools.partial(shape, predictor), detect, detect_cnn, functools.partial(shape, predictor_five))


def largest(boxes: list[np.ndarray]) -> np.ndarray:
    return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))


class LandmarkFinder:
    """68 checked landmarks for one RGB image: the cheapest path whose fit passes `mask_synth.face_check`.

    `tight` (faces sit where the dataset's box prior says): the box prior and its refinement, dlib's
    HOG detector (then upsampled), dlib's CNN detector. `detect` (faces anywhere): the HOG detector,
    the CNN detector, then the box prior, which there is only a guess. The CNN detector is slow: it
    runs on a downscaled image (`cnn_scales`), and its box gets the 68-point predictor or, where that
    cannot read the face (profiles), the 5-point predictor and the template posed to fit it. The
    whole image as the face box comes last. A fit that fails its checks is not kept: the next path
    is tried, and NoFaceError names why each one failed. Only with `tight` is a prior fit that fails
    no check but locking kept, as the fallback `prior-only`, when no path does better (masked faces,
    which dlib's predictors do not lock onto). Models default to dlib's (`dlib_models`); tests
    inject stand-ins.
    """

    def __init__(
        self,
        strategy: str = "tight",
        prior_box: tuple[float, float, float, float] = TIGHT_CROP_BOX,
        predict: Callable | None = None,
        detect: Callable | None = None,
        detect_cnn: Callable | None = None,
        predict_five: Callable | None = None,
    ):
        if strategy not in ("tight", "detect"):
            raise ValueError(f"landmark strategy {strategy!r}: choose tight or detect")
        self.strategy = strategy
        self.prior_box = tuple(float(v) for v in prior_box)  # plain values: part of how the finder describes itself
        given = {"predict": predict, "detect": detect, "detect_cnn": detect_cnn, "predict_five": predict_five}
        defaults = dlib_models() if None in given.values() else None
        for name, model in given.items():
            setattr(self, name, model or getattr(defaults, name))

    def check(self, gray: np.ndarray, points: np.ndarray) -> str | None:
        """Why a 68-point fit is not a face (see mask_synth.face_check), or None when it is.

        Locking is tested from the box the points imply, the predictor's own fixed point on a face:
        shifted from a detector's box instead, good fits drift more (measured: 95th percentile 0.68
        against 0.17 on realfaces' frontal faces).
        """
        h, w = gray.shape
        box = box_from_points(points)
        reason = implausible(points, w, h) or out_of_frame(points, box, w, h) or shape_problem(points)
        if (
            reason is None
            and box_response(self.predict(gray, box), shifted_fits(self.predict, gray, box), box) > LOCKED_RESPONSE
        ):
            reason = NOT_LOCKED
        return reason

    def from_prior(self, image: np.ndarray, gray: np.ndarray) -> Landmarks | str:
        """Fit from the box prior; keep it, or its one refinement, when self-consistent and checked.

        With the `tight` strategy, where faces were measured (or declared) to sit at the prior box, a
        fit that passes every check but locking comes back as PRIOR_ONLY: dlib's predictors do not
        lock onto masked faces, and the dataset's box is then the best evidence there is. The caller
        keeps it only if no other path finds the face.
        """
        h, w = gray.shape
        box = np.array(self.prior_box) * np.array([w, h, w, h])
        reason, unlocked = "the fit does not settle on a face box", None
        for source in (PRIOR, REFINED):
            points = self.predict(gray, box)
            implied = box_from_points(points)
            if box_iou(box, implied) >= CONSISTENT_IOU:
                reason = self.check(gray, points)
                if reason is None:
                    return Landmarks(points, source)
                if reason == NOT_LOCKED and unlocked is None:
                    unlocked = points
            box = implied
        return Landmarks(unlocked, PRIOR_ONLY) if unlocked is not None and self.strategy == "tight" else reason

    def from_detector(self, image: np.ndarray, gray: np.ndarray) -> Landmarks | str:
        reason = "no face detected"
        for upsample, source in ((0, DETECTOR), (1, UPSAMPLED)):
            faces = self.detect(gray, upsample)
            if faces:
                box = largest(faces)
                points = self.predict(gray, box)
                reason = self.check(gray, points)
                if reason is None:
                    return Landmarks(points, source)
        return reason

    def cnn_scales(self, width: int, height: int) -> list[float]:
        """Image scales at which to run the CNN detector, cheapest first: the one at which a face filling
        the image is CNN_FACE_SIDE px, then (if it differs much) the one at which the dataset's usual face
        (its prior box) is."""
        left, top, right, bottom = self.prior_box
        usual = ((right - left) * width + (bottom - top) * height) / 2
        filling, prior = (
            min(MAX_CNN_UPSCALE, CNN_FACE_SIDE / max(side, 1.0)) for side in (0.8 * max(width, height), usual)
        )
        return [filling] if prior < 1.3 * filling else [filling, prior]

    def from_cnn(self, image: np.ndarray, gray: np.ndarray) -> Landmarks | str:
        h, w = gray.shape
        for scale in self.cnn_scales(w, h):
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            faces = self.detect_cnn(small)
            if faces:
                break
        else:
            return "no face detected"
        box = largest(faces) / scale
        hog_like = box + np.array([0, CNN_BOX_DROP, 0, CNN_BOX_DROP]) * (box[2] - box[0])
        points = self.predict(gray, hog_like)
        if self.check(gray, points) is None:
            return Landmarks(points, CNN)
        return self.posed_on_five_points(gray, box)

    def posed_on_five_points(self, gray: np.ndarray, box: np.ndarray) -> Landmarks | str:
        """The 68-point template, posed, on dlib's 5 points (eye corners, base of the nose) in a detected box.

        Where the 68-point predictor cannot read a face (turned too far), the 5-point one still finds
        its eyes and nose, if less firmly: its points are the median of the fits from the box and
        four shifted boxes, and may follow the box more (POSED_RESPONSE) since the detector vouches
        for the face. The template in the pose that fits them best stands in for the 68 landmarks
        (the mouth where the template puts it for such eyes and nose).
        """
        h, w = gray.shape
        reference = self.predict_five(gray, box)
        fits = shifted_fits(self.predict_five, gray, box, AXIS_SHIFTS)
        if box_response(reference, fits, box, AXIS_SHIFTS) > POSED_RESPONSE:
            return "the 5 points follow the box: not locked onto a face"
        residual, _, points = pose_fit(np.median(np.concatenate([reference[None], fits]), 0), FIVE_POINT_ROWS)
        if residual > FIVE_POINT_TOLERANCE:
            return "the 5 points are not a face's in any pose"
        reason = out_of_frame(points, box_from_points(points), w, h) or tilted_or_tiny(points, POSED_MAX_TILT)
        return reason or Landmarks(points.astype(np.float32), CNN_POSED)

    def from_whole_image(self, image: np.ndarray, gray: np.ndarray) -> Landmarks | str:
        h, w = gray.shape
        box = np.array([0, 0, w - 1, h - 1], np.float64)
        points = self.predict(gray, box)
        return self.check(gray, points) or Landmarks(points, WHOLE_IMAGE)

    def __call__(self, image: np.ndarray) -> Landmarks:
        rgb = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        if self.strategy == "tight":
            paths = ((PRIOR, self.from_prior), (DETECTOR, self.from_detector), (CNN, self.from_cnn))
        else:
            paths = ((DETECTOR, self.from_detector), (CNN, self.from_cnn), (PRIOR, self.from_prior))
        paths += ((WHOLE_IMAGE, self.from_whole_image),)
        reasons, unverified = [], None
        for name, path in paths:
            found = path(rgb, gray)
            if isinstance(found, Landmarks) and found.source != PRIOR_ONLY:
                return found
            if isinstance(found, Landmarks):  # kept in case nothing better turns up
                found, unverified = NOT_LOCKED, found
            reasons.append(f"{name}: {found}")
        if unverified is not None:
            return unverified
        raise NoFaceError("no face: " + "; ".join(reasons))
