"""Is a landmark fit a face? The checks a shape predictor's output must pass before anyone trusts it.

dlib's shape predictor always answers: given any box, on a cheek, an ear or an image of noise, it
returns a face-like shape, because its regression starts from the mean face and stays near it when
the pixels say nothing. So:

- **shape**: the 68 points must look like the template face seen from some yaw and pitch, after the
  best similarity transform (scale, rotation, shift). This rejects fits torn out of shape, not the
  predictor's mean-face answer on noise, which is a perfectly good shape;
- **locking** (`box_response`) tells that answer from a face: on a real face the predictor finds
  the same points from a slightly shifted box, it *locks onto* the face; where there is none the
  points follow the box. The response is how far the points move per pixel the box moves: measured
  on realfaces and RMFD, about 0.1 on faces (95% under 0.2), 0.7 to 2 on noise, a cheek, a profile
  the predictor cannot read or a masked face.

A face that passes must also sit in the image at a sensible size with its eyes inside it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mask_synth.template import LEFT_EYE, RIGHT_EYE, TEMPLATE_68, TEMPLATE_DEPTH, posed_landmarks

TEMPLATE_EYE_DISTANCE = float(np.linalg.norm(TEMPLATE_68[RIGHT_EYE].mean(0) - TEMPLATE_68[LEFT_EYE].mean(0)))
YAWS = np.radians(np.arange(-90.0, 90.1, 7.5))
PITCHES = np.radians([-20.0, 0.0, 20.0])
# The template in every pose of the grid (P, 68, 2), with each pose's (yaw, pitch) in degrees.
POSES = [(yaw, pitch) for yaw in YAWS for pitch in PITCHES]
POSED = np.stack(
    [posed_landmarks(TEMPLATE_68, TEMPLATE_DEPTH, yaw=y, pitch=p, center=(56.0, 56.0)) for y, p in POSES]
).astype(float)
POSE_DEGREES = np.degrees(np.array(POSES))

SHAPE_TOLERANCE = 0.25  # RMS distance to the best posed template, in the template's (frontal) eye distances
LOCKED_RESPONSE = 0.5  # points moving more than this per pixel of box shift do not hold on to a face
BOX_SHIFT = 0.08  # box shift of the locking test, as a share of the box side ...
DIAGONAL_SHIFTS = np.array([(1.0, 1.0), (-1.0, -1.0)])  # ... and its directions: two predictions (5 ms each) a check
EYE_MARGIN = 0.02  # eyes may reach this share of the image's side beyond its border (a tight crop's edge)
LARGEST_FACE = 1.6  # a face's box may be at most this many times the image's longer side


def complex_points(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, np.float64)
    return points[..., 0] + 1j * points[..., 1]


def similarity_fit(z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The least-squares similarity w ~ a z + b between point sets given as complex numbers (..., n).

    In complex numbers a similarity (scale, rotation, no reflection) is one multiplication, and its
    least-squares fit is closed-form: with centred points, a = <z, w> / <z, z> (Umeyama's solution
    in 2-D). Leading axes are batches: one call fits every pose of a grid.
    """
    z_mean, w_mean = z.mean(-1, keepdims=True), w.mean(-1, keepdims=True)
    zc, wc = z - z_mean, w - w_mean
    a = (np.conj(zc) * wc).sum(-1) / (np.abs(zc) ** 2).sum(-1)
    return a, w_mean[..., 0] - a * z_mean[..., 0]


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity (scale, rotation, translation; no reflection) mapping src onto dst in least squares."""
    a, b = similarity_fit(complex_points(src), complex_points(dst))
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def pose_fit(points: np.ndarray, rows: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """The posed template that best explains `points` (template landmarks `rows`, default all 68).

    Returns (residual: RMS distance in template eye distances, (yaw, pitch) in degrees, the whole
    posed template mapped into the image (68, 2)). Every pose of the grid gets its own similarity.
    """
    rows = np.arange(68) if rows is None else np.asarray(rows)
    w = complex_points(points)
    posed = complex_points(POSED)  # (P, 68)
    a, b = similarity_fit(posed[:, rows], w[None])
    residual = np.sqrt((np.abs(a[:, None] * posed[:, rows] + b[:, None] - w) ** 2).mean(1)) / (
        np.abs(a) * TEMPLATE_EYE_DISTANCE
    )
    best = int(np.argmin(residual))
    whole = a[best] * posed[best] + b[best]
    return float(residual[best]), POSE_DEGREES[best], np.stack([whole.real, whole.imag], 1)


def square(centre: np.ndarray, side: float) -> np.ndarray:
    return np.array([centre[0] - side / 2, centre[1] - side / 2, centre[0] + side / 2, centre[1] + side / 2])


def shifted_fits(
    predict: Callable, gray: np.ndarray, box: np.ndarray, shifts: np.ndarray = DIAGONAL_SHIFTS
) -> np.ndarray:
    """The predictor's points from `box` moved by each of `shifts` (in BOX_SHIFT of its side): (len(shifts), n, 2)."""
    box = np.asarray(box, np.float64)
    moves = np.asarray(shifts, np.float64) * BOX_SHIFT * float(max(box[2] - box[0], box[3] - box[1]))
    return np.stack([np.asarray(predict(gray, box + np.r_[move, move]), np.float64) for move in moves])


def box_response(
    reference: np.ndarray, fits: np.ndarray, box: np.ndarray, shifts: np.ndarray = DIAGONAL_SHIFTS
) -> float:
    """How far the points of `shifted_fits` moved from the `reference` fit (from the unshifted box), per
    pixel the box moved; the median over the shifts. About 0.1 where the predictor locks onto a face,
    1 or more where the points merely ride the box."""
    side = float(max(box[2] - box[0], box[3] - box[1]))
    moved = np.sqrt(((fits - np.asarray(reference, np.float64)) ** 2).sum(-1).mean(-1))
    return float(np.median(moved / (np.hypot(*np.asarray(shifts, np.float64).T) * BOX_SHIFT * side)))


def out_of_frame(points: np.ndarray, box: np.ndarray, width: int, height: int) -> str | None:
    """Why a face cannot be where these points and their face box say, in a width x height image, or None."""
    margin = EYE_MARGIN * max(width, height)
    eyes = np.asarray(points, np.float64)[np.r_[LEFT_EYE, RIGHT_EYE]]
    if (eyes < -margin).any() or (eyes[:, 0] > width + margin).any() or (eyes[:, 1] > height + margin).any():
        return "eyes outside the image"
    side = float(box[2] - box[0])
    if side > LARGEST_FACE * max(width, height):
        return f"a face {side / max(width, height):.1f} times the image's size"
    return None


def shape_problem(points: np.ndarray) -> str | None:
    """Why these 68 points are not a face seen from any pose of the grid, or None."""
    residual, (yaw, pitch), _ = pose_fit(points)
    if residual > SHAPE_TOLERANCE:
        return f"not a face's shape (off the template by {residual:.2f} eye distances at its best pose, yaw {yaw:.0f})"
    return None


MIN_EYE_TO_MOUTH = 10.0  # pixels; no predictor places landmarks on a smaller face


def tilted_or_tiny(points: np.ndarray, max_tilt: float) -> str | None:
    """Why a face whose eyes may hide one another (a profile) is too small or leans too far, or None.

    Judged on the axis from the eyes' midpoint to the mouth's, which yaw hardly turns (a profile's
    mouth, ahead of its eyes, leans it about 13 degrees).
    """
    points = np.asarray(points, np.float64)
    down = points[48:68].mean(0) - points[np.r_[LEFT_EYE, RIGHT_EYE]].mean(0)
    length = float(np.hypot(*down))
    if length < MIN_EYE_TO_MOUTH:
        return "too small a face"
    if abs(np.degrees(np.arctan2(down[0], down[1]))) > max_tilt:
        return f"face tilted more than {max_tilt:.0f} degrees"
    return None
