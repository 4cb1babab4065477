"""Where each mask type lies on a face: every point a fixed linear blend of the 68 landmarks.

A mask type is laid out once, as weights over the landmarks: "jaw point 3.2, pushed out by 3% of
the face height", "the nose bridge 45% of the way down", "a Bezier curve from the mask's corner to
the ear". One matrix product with a face's own landmarks then places the mask on that face: it fits
the face's proportions, and any pose that moves the landmarks (roll, yaw, pitch) moves and
foreshortens the mask with them, continuously. Offsets outside the jaw run radially from the face
centre and are sized on the 68-point template, where the face height (eye line to chin) is known.

A mask surface is a band between two rails, `top` and `bottom`, sampled at the same RAIL_POINTS
positions from the face's left to its right; the renderer parameterises it by (u, v), u = -1..1
along the rails and v = 0..1 from top to bottom. Parts that stand off the surface (ear loops,
straps, cartridges, a valve) are polygons with a role that the renderer colours. Only what depends
on the pose non-linearly is computed per face: stroke widths, the far ear's visibility, how a
cartridge turns edge-on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from mask_synth.template import CHIN, LEFT_EYE, RIGHT_EYE, TEMPLATE_68

RAIL_POINTS = 17  # samples per rail; odd, so the middle one is on the face's centre line
BEZIER_POINTS = 9

# Blend rows: a landmark blend is a (68,) weight vector; applied to landmarks (68, 2) it is a point.
ROWS = np.eye(68)
CENTRE = ROWS[27:68].mean(0)  # middle of the inner face (nose, eyes, mouth)
EYES = (ROWS[LEFT_EYE].mean(0) + ROWS[RIGHT_EYE].mean(0)) / 2
DOWN = ROWS[CHIN] - EYES  # from the eye line to the chin: "down", one face height long
ACROSS = ROWS[RIGHT_EYE].mean(0) - ROWS[LEFT_EYE].mean(0)  # left eye to right eye
TEMPLATE = TEMPLATE_68.astype(np.float64)
TEMPLATE_HEIGHT = float((DOWN @ TEMPLATE)[1])


def jaw(s) -> np.ndarray:
    """Blends for jaw contour points at fractional landmark indices s (0 = left ear, 8 = chin, 16 = right ear)."""
    s = np.clip(np.asarray(s, np.float64), 0, 16)
    i = np.minimum(s.astype(int), 15)
    f = (s - i)[..., None]
    return ROWS[i] * (1 - f) + ROWS[i + 1] * f


def beside_jaw(s, out) -> np.ndarray:
    """Blends for points `out` face heights outside the jaw contour at s (negative: inside), radially from the centre."""
    on = jaw(s)
    radial = on - CENTRE
    distance = np.linalg.norm(radial @ TEMPLATE, axis=-1)
    return on + radial * (np.asarray(out, np.float64) * TEMPLATE_HEIGHT / distance)[..., None]


def bridge(t: float) -> np.ndarray:
    """Blend for a point on the nose bridge: t = 0 between the eyes (27), t = 1 at the nose tip (30)."""
    k = min(int(t * 3), 2)
    f = t * 3 - k
    return ROWS[27 + k] * (1 - f) + ROWS[28 + k] * f


def _bernstein(n: int) -> np.ndarray:
    t = np.arange(n)[:, None] / (n - 1)
    return np.hstack([(1 - t) ** 2, 2 * (1 - t) * t, t**2])


BERNSTEIN = _bernstein(BEZIER_POINTS)


def bezier(a: np.ndarray, control: np.ndarray, b: np.ndarray) -> np.ndarray:
    """BEZIER_POINTS points along a quadratic Bezier curve from a to b pulled towards `control` (blends or points)."""
    return BERNSTEIN @ np.stack([a, control, b], -2)


@dataclass(frozen=True)
class Fit:
    """How a mask type sits on the face (jaw indices s, bridge fraction t, offsets in face heights)."""

    bridge: float  # where the top edge crosses the nose bridge
    top_corner: float  # jaw index of the top corners
    top_out: float  # how far outside the jaw the top corners sit
    sag: float  # top edge between corner and bridge: > 0 dips towards the mouth, < 0 bulges up
    bottom_corner: float  # jaw index where the bottom rail starts
    side_out: float  # bottom rail's distance outside the jaw at its corners ...
    chin_out: float  # ... and under the chin
    beak: float = 0.0  # > 0: near the chin the bottom runs straight to a point this far below it (fold-flat masks)


FITS = {
    "surgical": Fit(
        bridge=0.45, top_corner=1.0, top_out=0.02, sag=0.03, bottom_corner=3.2, side_out=0.03, chin_out=0.07
    ),
    "n95": Fit(bridge=0.3, top_corner=1.5, top_out=0.03, sag=-0.06, bottom_corner=3.6, side_out=0.05, chin_out=0.08),
    "kn95": Fit(
        bridge=0.38, top_corner=1.2, top_out=0.02, sag=0.0, bottom_corner=3.0, side_out=0.02, chin_out=0.03, beak=0.1
    ),
    "cloth": Fit(bridge=0.35, top_corner=1.1, top_out=0.03, sag=-0.02, bottom_corner=3.4, side_out=0.04, chin_out=0.08),
    "respirator": Fit(
        bridge=0.3, top_corner=2.2, top_out=-0.02, sag=0.02, bottom_corner=4.3, side_out=0.02, chin_out=0.05
    ),
}
BEAK_SPAN = 2.5  # a fold-flat mask's bottom leaves the jaw this many landmark steps either side of the chin
SIDE_STEPS = np.array([0.2, 0.4, 0.6, 0.8])
EAR_POINTS = np.array([0.2, 2.4])  # jaw indices where ear loops meet the face: top of the ear, ear lobe


def rails(fit: Fit) -> tuple[np.ndarray, np.ndarray]:
    """Blends of the top and bottom rails of a mask surface, RAIL_POINTS each, face left to right."""
    peak = bridge(fit.bridge)
    left, right = beside_jaw(np.array([fit.top_corner, 16 - fit.top_corner]), fit.top_out)
    sag = DOWN * fit.sag
    halves = bezier(np.stack([left, peak]), (np.stack([left, right]) + peak) / 2 + sag, np.stack([peak, right]))
    top = np.vstack([halves[0], halves[1][1:]])

    s = np.linspace(fit.bottom_corner, 16 - fit.bottom_corner, RAIL_POINTS)
    closeness = 1 - np.abs(s - 8) / (8 - fit.bottom_corner)  # 0 at the corners, 1 at the chin
    bottom = beside_jaw(s, fit.side_out + (fit.chin_out - fit.side_out) * closeness**2)
    if fit.beak > 0:  # fold-flat: near the chin the bottom runs straight from the jaw to a point below it
        tip = ROWS[CHIN] + DOWN * fit.beak
        leave = beside_jaw(np.array([8 - BEAK_SPAN, 8 + BEAK_SPAN]), fit.side_out)
        near = np.abs(s - 8) < BEAK_SPAN
        to_tip = (1 - np.abs(s[near] - 8) / BEAK_SPAN)[:, None]
        start = np.where((s[near] < 8)[:, None], leave[0], leave[1])
        bottom[near] = start + (tip - start) * to_tip
    return top, bottom


def sides(fit: Fit) -> tuple[np.ndarray, np.ndarray]:
    """Blends of the outline's sides, down the jaw from the top corners to the bottom rail (right, then left upwards)."""
    span = fit.bottom_corner - fit.top_corner
    out = fit.top_out + (fit.side_out - fit.top_out) * SIDE_STEPS
    right = beside_jaw(16 - fit.top_corner - span * SIDE_STEPS, out)
    left = beside_jaw(fit.top_corner + span * SIDE_STEPS, out)[::-1]
    return right, left


@dataclass
class Lines:
    """Polylines of one role, stroked to a width: points = base + visibility of their side x delta."""

    role: str
    base: slice  # rows of the layout for (count, points) line points, flattened
    delta: slice | None  # rows of the shift applied in proportion to the side's visibility
    sides: np.ndarray  # per line: -1 on the face's left, 1 on its right, 0 in the middle
    points: int  # points per line
    width: float  # in face heights


@dataclass
class Layout:
    """A mask type laid out as landmark blends: `weights` (N, 68) and which rows are what."""

    weights: np.ndarray
    top: slice
    bottom: slice
    outline: slice
    pose: slice  # the points Pose needs: eye centres, chin, nose tip, jaw points 2 and 14
    lines: list[Lines] = field(default_factory=list)
    polygons: list[tuple[str, slice]] = field(default_factory=list)
    cartridges: slice | None = None  # the two cartridge centres of a respirator


class _Rows:
    """Collects blend rows and hands back the slice where each group landed."""

    def __init__(self):
        self.blocks, self.count = [], 0

    def add(self, rows: np.ndarray) -> slice:
        rows = np.asarray(rows).reshape(-1, 68)
        self.blocks.append(rows)
        self.count += len(rows)
        return slice(self.count - len(rows), self.count)


def _corners(top: np.ndarray, bottom: np.ndarray, at) -> np.ndarray:
    """Blends on the mask's left then right side edge, at heights `at` (0 = top edge, 1 = bottom)."""
    at = np.asarray(at, np.float64)[:, None]
    return np.vstack([top[0] + (bottom[0] - top[0]) * at, top[-1] + (bottom[-1] - top[-1]) * at])


def _both_sides(s_left: np.ndarray) -> np.ndarray:
    return np.concatenate([s_left, 16 - s_left])


def ear_loops(rows: _Rows, top: np.ndarray, bottom: np.ndarray, width: float) -> Lines:
    """Two strands on each side, from the mask's corners round the front of the ear, which turns away with the head."""
    s = _both_sides(EAR_POINTS)
    on_jaw, ears = jaw(s), beside_jaw(s, 0.07)
    corners = _corners(top, bottom, [0.0, 1.0])
    base = bezier(corners, (corners + on_jaw) / 2, on_jaw)
    # fully visible, the strand ends 0.07 face heights out and bows out 0.04 more
    delta = bezier(np.zeros_like(corners), (ears - on_jaw) / 2 + (beside_jaw(s, 0.04) - on_jaw), ears - on_jaw)
    return Lines("cord", rows.add(base), rows.add(delta), np.array([-1, -1, 1, 1]), BEZIER_POINTS, width)


def side_straps(rows: _Rows, top: np.ndarray, bottom: np.ndarray, width: float, at=(0.25, 0.8)) -> Lines:
    """Head straps leaving the mask's sides at heights `at` (0 = top edge, 1 = bottom), running back past the cheeks."""
    starts = _corners(top, bottom, at)
    s = _both_sides(1.2 + 1.6 * np.asarray(at))
    on_jaw = jaw(s)
    base = np.stack([starts, (starts + on_jaw) / 2, on_jaw], 1)
    away = beside_jaw(s, 0.12) - on_jaw
    delta = np.stack([np.zeros_like(away), away / 2, away], 1)
    return Lines("strap", rows.add(base), rows.add(delta), np.repeat([-1, 1], len(at)), 3, width)


def respirator_parts(rows: _Rows, layout: Layout) -> None:
    """A respirator's two filter cartridges on the lower cheeks and its valve between lower lip and chin."""
    corners = ROWS[[48, 54]]
    layout.cartridges = rows.add(corners + (beside_jaw(np.array([4.6, 11.4]), 0.05) - corners) * 0.6)
    centre = ROWS[57] + (ROWS[CHIN] - ROWS[57]) * 0.45
    right = ACROSS * (TEMPLATE_HEIGHT / float(np.linalg.norm(ACROSS @ TEMPLATE)))  # one face height along the eye line
    w, h = 0.15, 0.12
    body = [
        centre - right * w - DOWN * h,
        centre + right * w - DOWN * h,
        centre + right * w * 0.75 + DOWN * h,
        centre - right * w * 0.75 + DOWN * h,
    ]
    layout.polygons.append(("valve", rows.add(np.stack(body))))
    slots = [[centre + DOWN * k * h + right * a * w for a in (-0.55, 0.0, 0.55)] for k in (-0.45, 0.0, 0.45)]
    layout.lines.append(Lines("slot", rows.add(np.array(slots)), None, np.zeros(3), 3, 0.03))


@functools.cache
def layout(kind: str) -> Layout:
    """The landmark blends of a mask type, built once."""
    fit = FITS[kind]
    rows = _Rows()
    top, bottom = rails(fit)
    right_side, left_side = sides(fit)
    top_rows, bottom_rows = rows.add(top), rows.add(bottom)
    outline = rows.add(np.vstack([top, right_side, bottom[::-1], left_side]))
    pose = rows.add(
        np.stack([ROWS[LEFT_EYE].mean(0), ROWS[RIGHT_EYE].mean(0), ROWS[CHIN], ROWS[30], ROWS[2], ROWS[14]])
    )
    result = Layout(np.empty(0), top_rows, bottom_rows, outline, pose)
    if kind == "n95":
        result.lines.append(side_straps(rows, top, bottom, 0.035))
    elif kind == "respirator":
        result.lines.append(side_straps(rows, top, bottom, 0.05, at=(0.2, 0.75)))
        respirator_parts(rows, result)
    else:
        result.lines.append(ear_loops(rows, top, bottom, 0.03 if kind == "cloth" else 0.018))
    result.weights = np.vstack(rows.blocks)
    return result


@dataclass
class Part:
    polygon: np.ndarray  # (N, 2) image pixels
    role: str  # what it is, for its colour: "cord", "strap", "rim", "filter", "valve", "slot", "highlight"


@dataclass
class MaskShape:
    top: np.ndarray  # (RAIL_POINTS, 2) top rail, face left to right
    bottom: np.ndarray  # (RAIL_POINTS, 2) bottom rail
    outline: np.ndarray  # (N, 2) closed polygon of the mask surface
    parts: list[Part] = field(default_factory=list)


def _normals(points: np.ndarray) -> np.ndarray:
    """Unit normals (tangent turned by +90 degrees) along polylines of shape (..., n, 2)."""
    tangent = np.concatenate(
        [
            points[..., 1:2, :] - points[..., :1, :],
            points[..., 2:, :] - points[..., :-2, :],
            points[..., -1:, :] - points[..., -2:-1, :],
        ],
        -2,
    )
    normal = np.stack([tangent[..., 1], -tangent[..., 0]], -1)
    return normal / np.maximum(np.sqrt((normal**2).sum(-1, keepdims=True)), 1e-9)


def stroke(points: np.ndarray, width: float) -> np.ndarray:
    """Polylines (..., n, 2) thickened into polygons (..., 2n, 2) `width` pixels wide (sub-pixel widths stay sub-pixel)."""
    offset = _normals(points) * (width / 2)
    return np.concatenate([points + offset, (points - offset)[..., ::-1, :]], -2)


CIRCLE = np.stack([np.cos(np.arange(28) * (2 * np.pi / 28)), np.sin(np.arange(28) * (2 * np.pi / 28))], 1)


def ellipses(centres: np.ndarray, axes: np.ndarray, angle: float) -> np.ndarray:
    """Polygons (m, 28, 2) of ellipses with centres (m, 2) and semi-axes (m, 2), all turned by `angle`."""
    c, s = np.cos(angle), np.sin(angle)
    return (CIRCLE * axes[:, None, :]) @ np.array([[c, s], [-s, c]]) + centres[:, None, :]


class Pose:
    """What the non-linear parts need of a face: its height, axes, roll and a yaw proxy."""

    def __init__(self, left_eye, right_eye, chin, nose_tip, jaw_left, jaw_right):
        across = right_eye - left_eye
        self.right = across / max(float(np.hypot(*across)), 1e-6)
        self.down = np.array([-self.right[1], self.right[0]])
        self.height = max(float((chin - (left_eye + right_eye) / 2) @ self.down), 1e-3)
        self.roll = float(np.arctan2(self.right[1], self.right[0]))
        # Yaw proxy in (-1, 1): where the nose tip sits between the jaw's sides at its level;
        # positive when the face turns towards the image's right (its right side foreshortened).
        left_span, right_span = float((nose_tip - jaw_left) @ self.right), float((jaw_right - nose_tip) @ self.right)
        self.yaw = min(max((left_span - right_span) / max(left_span + right_span, 1e-6), -1.0), 1.0)

    def visibility(self, sides: np.ndarray) -> np.ndarray:
        """How much of each side's flank shows: 1 frontal, 0 turned away (side -1: face's left, 1: right, 0: middle)."""
        return np.clip(1 - 2.5 * np.maximum(self.yaw * sides, 0.0), 0.0, 1.0)


def mask_shape(kind: str, landmarks: np.ndarray) -> MaskShape:
    """Outline, rails and parts of a mask of `kind` on the face with these 68 landmarks."""
    plan = layout(kind)
    points = plan.weights @ np.asarray(landmarks, np.float64)
    pose = Pose(*points[plan.pose])
    parts = []
    for lines in plan.lines:
        line_points = points[lines.base].reshape(len(lines.sides), lines.points, 2)
        visible = pose.visibility(lines.sides)
        if lines.delta is not None:
            line_points = line_points + points[lines.delta].reshape(line_points.shape) * visible[:, None, None]
        for polygon, seen in zip(stroke(line_points, lines.width * pose.height), visible):
            if seen > 0.05:
                parts.append(Part(polygon, lines.role))
    if plan.cartridges is not None:
        parts += cartridge_parts(points[plan.cartridges], pose)
    for role, rows in plan.polygons:
        parts.append(Part(points[rows], role))
    return MaskShape(points[plan.top], points[plan.bottom], points[plan.outline], _in_drawing_order(parts))


def cartridge_parts(centres: np.ndarray, pose: Pose) -> list[Part]:
    """Two filter discs facing forward and 40 degrees outward: turning the head swings one towards edge-on."""
    radius = 0.2 * pose.height
    side = np.array([-1.0, 1.0])
    facing = np.cos(np.minimum(np.radians(40) + side * np.arcsin(pose.yaw), np.pi / 2))
    axes = np.stack([radius * np.maximum(facing, 0.15), [radius, radius]], 1)
    glints = centres - pose.down * 0.35 * radius - pose.right * (side * 0.2 * axes[:, 0])[:, None]
    rims, filters, highlights = ellipses(
        np.vstack([centres, centres, glints]), np.vstack([axes * 1.12, axes, axes * [0.35, 0.18]]), pose.roll
    ).reshape(3, 2, -1, 2)
    return (
        [Part(e, "rim") for e in rims]
        + [Part(e, "filter") for e in filters]
        + [Part(e, "highlight") for e in highlights]
    )


DRAWING_ORDER = ("strap", "cord", "rim", "filter", "highlight", "valve", "slot")


def _in_drawing_order(parts: list[Part]) -> list[Part]:
    return sorted(parts, key=lambda part: DRAWING_ORDER.index(part.role))
