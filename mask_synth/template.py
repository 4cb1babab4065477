"""A 68-point face template for 112x112 ArcFace-aligned crops, with a depth per point.

The five ArcFace alignment points (eye centres, nose tip, mouth corners) are where insightface's
`arcface_dst` puts them, so faces aligned by any ArcFace pipeline (faces_webface_112x112, mfr.align)
carry these landmarks without running a detector. The other points are laid out from face
proportions, in dlib's 68-point order (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, lips 48-67).
The depth (pixels towards the camera) lets callers pose the template in 3-D (`posed_landmarks`).
"""

from __future__ import annotations

import numpy as np

TEMPLATE_SIZE = 112

# insightface's 5-point ArcFace template for 112x112 crops.
ARCFACE_5 = np.array(
    [
        [38.2946, 51.6963],  # left eye (image left)
        [73.5318, 51.5014],  # right eye
        [56.0252, 71.7366],  # nose tip
        [41.5493, 92.3655],  # left mouth corner
        [70.7299, 92.2041],  # right mouth corner
    ],
    dtype=np.float32,
)

# Index groups of dlib's 68-point layout.
JAW = np.arange(0, 17)
LEFT_BROW, RIGHT_BROW = np.arange(17, 22), np.arange(22, 27)
NOSE_BRIDGE, NOSE_BOTTOM = np.arange(27, 31), np.arange(31, 36)
LEFT_EYE, RIGHT_EYE = np.arange(36, 42), np.arange(42, 48)
OUTER_LIPS, INNER_LIPS = np.arange(48, 60), np.arange(60, 68)
NOSE_TIP, CHIN = 30, 8


def _eye(center: np.ndarray, width: float) -> np.ndarray:
    """Six eye points in dlib order: left corner, two upper, right corner, two lower (clockwise)."""
    half, lid = width / 2, width * 0.17
    xs = np.array([-half, -half / 3, half / 3, half, half / 3, -half / 3])
    ys = np.array([0.0, -lid, -lid, 0.0, lid, lid])
    return np.stack([center[0] + xs, center[1] + ys], axis=1)


def _build() -> tuple[np.ndarray, np.ndarray]:
    le, re, nose, lm, rm = ARCFACE_5.astype(np.float64)
    cx = (le[0] + re[0]) / 2
    iod = re[0] - le[0]  # inter-ocular distance, about 35 px
    pts = np.zeros((68, 2))
    depth = np.zeros(68)

    # Jaw: a squared-off half ellipse from ear level (just below the eyes) round the chin.
    top, chin_y, half_w = le[1] + 2.0, 109.0, 1.02 * iod
    t = np.linspace(0.0, np.pi, 17)
    c, s = np.cos(t), np.sin(t)
    pts[JAW, 0] = cx - half_w * np.sign(c) * np.abs(c) ** 0.8
    pts[JAW, 1] = top + (chin_y - top) * s**0.9
    depth[JAW] = -28.0 + 30.0 * s**2  # cheeks recede, the chin comes forward

    # Brows: arcs about a third of the inter-ocular distance above each eye.
    for idx, eye, sign in ((LEFT_BROW, le, 1.0), (RIGHT_BROW, re, -1.0)):
        xs = np.linspace(-0.55, 0.45, 5) * 0.62 * iod
        xs = xs if sign > 0 else -xs[::-1]
        pts[idx, 0] = eye[0] + xs
        pts[idx, 1] = eye[1] - 0.33 * iod - 0.09 * iod * np.sin(np.linspace(0.2, 2.9, 5))
        depth[idx] = 2.0

    # Nose: the bridge runs from between the eyes down to the tip; the base sits under it.
    pts[NOSE_BRIDGE, 0] = np.linspace(cx, nose[0], 4)
    pts[NOSE_BRIDGE, 1] = np.linspace(le[1] + 0.5, nose[1], 4)
    depth[NOSE_BRIDGE] = np.linspace(6.0, 22.0, 4)
    base_y = nose[1] + 0.13 * iod
    pts[NOSE_BOTTOM, 0] = nose[0] + np.array([-0.30, -0.15, 0.0, 0.15, 0.30]) * iod
    pts[NOSE_BOTTOM, 1] = base_y - np.array([0.06, 0.02, 0.0, 0.02, 0.06]) * iod
    depth[NOSE_BOTTOM] = np.array([10.0, 14.0, 16.0, 14.0, 10.0])

    # Eyes: about 0.42 of the inter-ocular distance wide.
    pts[LEFT_EYE] = _eye(le, 0.42 * iod)
    pts[RIGHT_EYE] = _eye(re, 0.42 * iod)
    depth[LEFT_EYE] = depth[RIGHT_EYE] = 0.0

    # Lips: outer contour through the mouth corners, inner contour a thin slit.
    mx, my = (lm[0] + rm[0]) / 2, (lm[1] + rm[1]) / 2
    hw = (rm[0] - lm[0]) / 2
    outer_x = np.array([-1.0, -0.62, -0.25, 0.0, 0.25, 0.62, 1.0, 0.62, 0.25, 0.0, -0.25, -0.62]) * hw
    outer_y = np.array([0.0, -0.13, -0.19, -0.15, -0.19, -0.13, 0.0, 0.17, 0.23, 0.24, 0.23, 0.17]) * hw * 1.1
    pts[OUTER_LIPS, 0] = mx + outer_x
    pts[OUTER_LIPS, 1] = my + outer_y
    inner_x = np.array([-0.85, -0.3, 0.0, 0.3, 0.85, 0.3, 0.0, -0.3]) * hw
    inner_y = np.array([0.0, -0.03, -0.03, -0.03, 0.0, 0.03, 0.03, 0.03]) * hw
    pts[INNER_LIPS, 0] = mx + inner_x
    pts[INNER_LIPS, 1] = my + inner_y
    depth[OUTER_LIPS] = depth[INNER_LIPS] = 9.0
    depth[[48, 54, 60, 64]] = 5.0

    # Pin the five ArcFace points exactly.
    pts[36:42] += le - pts[36:42].mean(0)
    pts[42:48] += re - pts[42:48].mean(0)
    pts[NOSE_TIP] = nose
    pts[48], pts[54] = lm, rm
    return pts.astype(np.float32), depth.astype(np.float32)


TEMPLATE_68, TEMPLATE_DEPTH = _build()


def template_landmarks(size: int = TEMPLATE_SIZE) -> np.ndarray:
    """The 68 template points for a square aligned crop of `size` pixels."""
    return TEMPLATE_68 * (size / TEMPLATE_SIZE)


def posed_landmarks(
    points: np.ndarray,
    depth: np.ndarray,
    yaw: float = 0.0,
    pitch: float = 0.0,
    roll: float = 0.0,
    center: tuple[float, float] | None = None,
) -> np.ndarray:
    """Rotate 2-D points with a depth by yaw, pitch and roll (radians) and project orthographically.

    Positive yaw turns the face towards the image's right, positive roll turns it clockwise.
    """
    c = np.asarray(center if center is not None else points.mean(0), dtype=np.float64)
    xyz = np.column_stack([points - c, depth]).astype(np.float64)
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    out = xyz @ (r_roll @ r_pitch @ r_yaw).T
    return (out[:, :2] + c).astype(np.float32)
