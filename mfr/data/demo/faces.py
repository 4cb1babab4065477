"""Procedurally drawn faces with 68-point landmarks: the synthetic stand-in for a face dataset.

An identity is a set of geometry and colour parameters (face width, eye spacing and size, brows,
nose, mouth, skin, hair colour and style, glasses); an image of it adds pose (yaw, pitch, roll),
expression, lighting, background, blur and noise. Everything is drawn from the 3-D template of
`mask_synth.template`, so the landmarks match the face exactly and sit where ArcFace alignment
would put them. This is synthetic demo data, not faces of anyone.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mask_synth.template import (
    LEFT_BROW,
    LEFT_EYE,
    OUTER_LIPS,
    RIGHT_BROW,
    RIGHT_EYE,
    TEMPLATE_68,
    TEMPLATE_DEPTH,
    TEMPLATE_SIZE,
    posed_landmarks,
)

SKIN_TONES = np.array(
    [[255, 224, 196], [241, 194, 160], [224, 172, 130], [198, 134, 96], [161, 102, 68], [112, 72, 48], [87, 55, 38]],
    np.float32,
)
HAIR_COLOURS = np.array(
    [
        [20, 16, 14],
        [58, 40, 28],
        [100, 70, 40],
        [160, 120, 70],
        [210, 180, 120],
        [120, 50, 25],
        [150, 150, 150],
        [235, 235, 230],
    ],
    np.float32,
)
IRIS_COLOURS = np.array([[60, 40, 25], [100, 70, 40], [70, 110, 150], [80, 120, 80], [40, 30, 25]], np.float32)
SHIFT = 4  # cv2 drawing with 4 fractional bits: sub-pixel anti-aliased shapes


@dataclass
class Identity:
    """Per-identity geometry (a 68x2 offset field over the template, in template pixels) and looks."""

    offsets: np.ndarray
    width: float
    skin: np.ndarray
    hair: np.ndarray
    iris: np.ndarray
    lips: np.ndarray
    hairline: float  # forehead height above the brows, in inter-ocular units
    fringe: float  # 0 = none, else how far hair falls over the forehead
    hair_volume: float
    part: float  # -1..1, where the hair parts
    brow_thickness: float
    glasses: bool
    freckles: int  # random seed of skin marks on the upper face, 0 = none


def sample_identity(rng: np.random.Generator) -> Identity:
    offsets = np.zeros((68, 2), np.float32)
    eye_spread = rng.normal(0, 1.6)
    offsets[LEFT_EYE, 0] -= eye_spread
    offsets[RIGHT_EYE, 0] += eye_spread
    eye_height = rng.normal(0, 1.2)
    offsets[36:48, 1] += eye_height
    eye_size = rng.uniform(0.8, 1.3)
    for eye in (LEFT_EYE, RIGHT_EYE):
        c = TEMPLATE_68[eye].mean(0)
        offsets[eye] += (TEMPLATE_68[eye] - c) * (eye_size - 1)
    brow_lift, brow_tilt = rng.normal(0, 1.8), rng.normal(0, 1.5)
    offsets[17:27, 1] += brow_lift
    offsets[LEFT_BROW, 1] += np.linspace(brow_tilt, -brow_tilt, 5)
    offsets[RIGHT_BROW, 1] += np.linspace(-brow_tilt, brow_tilt, 5)
    nose_len, nose_width = rng.normal(0, 2.0), rng.uniform(0.8, 1.35)
    offsets[30:36, 1] += nose_len
    offsets[31:36, 0] += (TEMPLATE_68[31:36, 0] - 56.0) * (nose_width - 1)
    mouth_width, mouth_y = rng.uniform(0.8, 1.25), rng.normal(0, 1.5)
    offsets[48:68, 0] += (TEMPLATE_68[48:68, 0] - 56.0) * (mouth_width - 1)
    offsets[48:68, 1] += mouth_y + nose_len * 0.5
    chin = rng.normal(0, 3.0)
    offsets[4:13, 1] += chin * np.sin(np.linspace(0.3, np.pi - 0.3, 9))
    lip_fullness = rng.uniform(0.7, 1.5)
    centre = TEMPLATE_68[OUTER_LIPS].mean(0)
    offsets[OUTER_LIPS, 1] += (TEMPLATE_68[OUTER_LIPS, 1] - centre[1]) * (lip_fullness - 1)
    tone = rng.uniform(0, len(SKIN_TONES) - 1)
    lo = int(tone)
    skin = SKIN_TONES[lo] + (SKIN_TONES[min(lo + 1, len(SKIN_TONES) - 1)] - SKIN_TONES[lo]) * (tone - lo)
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.8, 1.2) + rng.normal(0, 12, 3)
    return Identity(
        offsets=offsets,
        width=float(rng.uniform(0.86, 1.14)),
        skin=np.clip(skin + rng.normal(0, 6, 3), 0, 255).astype(np.float32),
        hair=np.clip(hair, 0, 255).astype(np.float32),
        iris=IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))] * rng.uniform(0.8, 1.2),
        lips=np.clip(skin * np.array([0.85, 0.55, 0.55]) + rng.normal(0, 10, 3), 0, 255).astype(np.float32),
        hairline=float(rng.uniform(0.55, 1.1)),
        fringe=float(rng.choice([0.0, 0.0, rng.uniform(0.2, 0.8)])),
        hair_volume=float(rng.uniform(0.0, 1.0)),
        part=float(rng.uniform(-1, 1)),
        brow_thickness=float(rng.uniform(0.6, 1.6)),
        glasses=bool(rng.random() < 0.2),
        freckles=int(rng.integers(1, 2**31)) if rng.random() < 0.3 else 0,
    )


@dataclass
class Shot:
    """Per-image variation."""

    yaw: float
    pitch: float
    roll: float
    scale: float
    shift: np.ndarray
    mouth_open: float
    smile: float
    light_angle: float
    light_strength: float
    brightness: float
    background: np.ndarray
    blur: float
    noise: float


def _background(rng: np.random.Generator) -> np.ndarray:
    """Top and bottom colours of a muted vertical gradient, like the walls behind real face crops."""
    grey = rng.uniform(50, 200)
    return np.clip(grey + rng.normal(0, 18, (2, 3)), 0, 255).astype(np.float32)


def sample_shot(rng: np.random.Generator, pose_spread: float = 1.0) -> Shot:
    return Shot(
        yaw=float(rng.normal(0, 0.18 * pose_spread)),
        pitch=float(rng.normal(0, 0.08 * pose_spread)),
        roll=float(rng.normal(0, 0.07 * pose_spread)),
        scale=float(rng.uniform(0.94, 1.06)),
        shift=rng.normal(0, 1.5, 2).astype(np.float32),
        mouth_open=float(max(0.0, rng.normal(0, 0.25))),
        smile=float(rng.normal(0, 0.4)),
        light_angle=float(rng.uniform(0, 2 * np.pi)),
        light_strength=float(rng.uniform(0.0, 0.2)),
        brightness=float(rng.uniform(0.9, 1.1)),
        background=_background(rng),
        blur=float(max(0.0, rng.normal(0.1, 0.3))),
        noise=float(rng.uniform(0, 5)),
    )


def _arc(left: np.ndarray, right: np.ndarray, rise: float, depth: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """An arc over the head from `left` to `right`, peaking `rise` pixels above their midpoint (3-D)."""
    t = np.linspace(0, np.pi, n)
    cx, cy = (left + right) / 2
    rx = (right[0] - left[0]) / 2
    xy = np.stack([cx - rx * np.cos(t), cy - rise * np.sin(t)], 1)
    return xy, np.full(n, depth, np.float32) - 8 * np.sin(t) ** 2


def face_geometry(identity: Identity, shot: Shot) -> dict[str, np.ndarray]:
    """All 2-D points of one image in template (112) pixels: the 68 landmarks plus head outlines."""
    pts = TEMPLATE_68 + identity.offsets
    widen = np.where(np.arange(68) < 17, identity.width, 1.0 + (identity.width - 1) * 0.4)
    pts[:, 0] = 56.0 + (pts[:, 0] - 56.0) * widen
    # expression: an open mouth drops the lower lip and jaw a little; a smile lifts the corners
    pts[[55, 56, 57, 58, 59, 65, 66, 67], 1] += shot.mouth_open * 6
    pts[5:12, 1] += shot.mouth_open * 2.5
    pts[[48, 54, 60, 64], 1] -= shot.smile * 2.0
    pts[[48, 60], 0] -= abs(shot.smile)
    pts[[54, 64], 0] += abs(shot.smile)
    iod = float(pts[42:48, 0].mean() - pts[36:42, 0].mean())
    ear_y = float(pts[0, 1])
    hairline_y = float(pts[17:27, 1].min()) - identity.hairline * iod
    puff = 6 + 8 * identity.hair_volume
    skull, skull_z = _arc(pts[0], pts[16], ear_y - hairline_y + 10, -10.0, 15)
    hair, hair_z = _arc(
        pts[0] + [-puff, 14], pts[16] + [puff, 14], ear_y + 14 - hairline_y + 14 + 10 * identity.hair_volume, -14.0, 17
    )
    hairline, hl_z = _arc(pts[0] + [1, -4], pts[16] - [1, 4], ear_y - 4 - hairline_y, -4.0, 11)
    everything = np.vstack([pts, skull, hair, hairline])
    depth = np.concatenate([TEMPLATE_DEPTH, skull_z, hair_z, hl_z])
    posed = posed_landmarks(everything, depth, shot.yaw, shot.pitch, shot.roll, center=(56.0, 68.0))
    posed = (posed - 56.0) * shot.scale + 56.0 + shot.shift
    n1, n2, n3 = 68, 68 + len(skull), 68 + len(skull) + len(hair)
    return {"landmarks": posed[:n1], "skull": posed[n1:n2], "hair": posed[n2:n3], "hairline": posed[n3:]}


def _poly(img, pts, colour, k):
    cv2.fillPoly(
        img, [np.round(pts * k * (1 << SHIFT)).astype(np.int32)], tuple(float(c) for c in colour), cv2.LINE_AA, SHIFT
    )


def _line(img, pts, colour, thickness, k, closed=False):
    cv2.polylines(
        img,
        [np.round(pts * k * (1 << SHIFT)).astype(np.int32)],
        closed,
        tuple(float(c) for c in colour),
        max(1, int(round(thickness * k))),
        cv2.LINE_AA,
        SHIFT,
    )


def _ellipse(img, centre, axes, angle, colour, k):
    c = tuple(int(round(v * k * (1 << SHIFT))) for v in centre)
    a = tuple(max(1, int(round(v * k * (1 << SHIFT)))) for v in axes)
    cv2.ellipse(img, c, a, float(angle), 0, 360, tuple(float(x) for x in colour), -1, cv2.LINE_AA, SHIFT)


def draw_face(identity: Identity, shot: Shot, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Render one face: (HxWx3 uint8 RGB image, 68x2 float32 landmarks in image pixels)."""
    k = size / TEMPLATE_SIZE
    g = face_geometry(identity, shot)
    lm = g["landmarks"]
    yy = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    img = (shot.background[0] * (1 - yy) + shot.background[1] * yy).repeat(size, axis=1)
    img = np.ascontiguousarray(img, dtype=np.float32)
    skin, hair = identity.skin, identity.hair

    _poly(img, g["hair"], hair * 0.85, k)  # hair behind the head
    ears = [(lm[1] + lm[2]) / 2 - [2, 0], (lm[15] + lm[14]) / 2 + [2, 0]]
    for ear in ears:
        _ellipse(img, ear, (4.5, 8), np.degrees(shot.roll), skin * 0.92, k)
    _poly(img, np.vstack([lm[0:17], g["skull"][::-1]]), skin, k)  # face and forehead
    if identity.freckles:
        frng = np.random.default_rng(identity.freckles)
        for p in frng.uniform([30, 36], [82, 62], (8, 2)):  # brow, eye and upper-cheek marks: visible above a mask
            _ellipse(
                img,
                posed_landmarks(p[None], np.zeros(1), shot.yaw, 0, shot.roll, (56, 68))[0],
                (0.8, 0.8),
                0,
                skin * 0.75,
                k,
            )
    # hair over the forehead: the band above the hairline, and an optional fringe
    _poly(img, np.vstack([g["hairline"], g["skull"][::-1]]), hair, k)
    if identity.fringe:
        hl = g["hairline"]
        mid = len(hl) // 2 + int(round(identity.part * 3))
        tip = (lm[19] + lm[24]) / 2 * identity.fringe + hl[mid] * (1 - identity.fringe)
        _poly(img, np.vstack([hl[1:-1], tip[None]]), hair * 0.95, k)
    # brows
    for brow in (LEFT_BROW, RIGHT_BROW):
        _line(img, lm[brow], hair * 0.7, 2.2 * identity.brow_thickness, k)
    # eyes: sclera, iris following the yaw a little, pupil, upper lid line
    for eye in (LEFT_EYE, RIGHT_EYE):
        _poly(img, lm[eye], (235, 232, 225), k)
        c = lm[eye].mean(0) + [shot.yaw * 2.0, 0]
        r = np.ptp(lm[eye][:, 1]) * 0.55
        _ellipse(img, c, (r, r), 0, identity.iris, k)
        _ellipse(img, c, (r * 0.45, r * 0.45), 0, (15, 12, 10), k)
        _line(img, lm[eye][[0, 1, 2, 3]], skin * 0.45, 1.0, k)
    # nose: a shaded ridge and nostrils
    _line(img, lm[27:31], skin * 0.8, 1.5, k)
    _line(img, lm[31:36], skin * 0.7, 1.2, k)
    for n in (31, 35):
        _ellipse(img, lm[n] + [0, -0.5], (1.4, 0.9), 0, skin * 0.45, k)
    # mouth
    _poly(img, lm[OUTER_LIPS], identity.lips, k)
    if shot.mouth_open > 0.15:
        _poly(img, lm[60:68], (60, 25, 30), k)
    else:
        _line(img, lm[60:65], identity.lips * 0.6, 0.8, k)
    if identity.glasses:
        for eye in (LEFT_EYE, RIGHT_EYE):
            _line(
                img,
                cv2.ellipse2Poly((0, 0), (9, 7), 0, 0, 360, 20).astype(np.float32) + lm[eye].mean(0),
                (30, 30, 30),
                1.2,
                k,
                True,
            )
        _line(img, np.stack([lm[39] + [2, -1], lm[42] + [-2, -1]]), (30, 30, 30), 1.2, k)

    # lighting: a linear gradient across the face, then global brightness
    xx = np.linspace(-1, 1, size, dtype=np.float32)
    light = 1 + shot.light_strength * (np.cos(shot.light_angle) * xx[None, :] + np.sin(shot.light_angle) * xx[:, None])
    img *= (light * shot.brightness)[..., None]
    if shot.blur > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), shot.blur * k)
    if shot.noise > 0:
        img += rng.normal(0, shot.noise, img.shape).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), (lm * k).astype(np.float32)
