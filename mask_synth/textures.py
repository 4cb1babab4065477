"""Fabric, patterns and relief of a mask, painted procedurally in its own (u, v) surface space.

The renderer warps these canvases onto the face, so a stripe stays a stripe across pleats and turns
with the head. A canvas is about as many pixels as the mask covers in the image, so patterns are
drawn at the scale they are seen; every edge is box-filtered over one canvas pixel (anti-aliased).
`albedo` is the colour under white light (0-255); `relief` multiplies it: pleats, seams, domes.
Coordinates come as a row x (1, w) and a column y (h, 1), so profiles that depend on one of them
(pleats, bindings, seams) cost one row or column, and numpy broadcasting builds the 2-D canvas.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from mask_synth.specs import MaskSpec


def _band(phase: np.ndarray, period: float, duty: float) -> np.ndarray:
    """Coverage of stripes `duty` of a period wide centred on integer phases, edges one pixel soft."""
    distance = np.abs(phase - np.round(phase)) * period  # pixels from the stripe centre line
    return np.clip(duty * period / 2 - distance + 0.5, 0, 1)


def _disc(x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    return np.clip(radius - np.hypot(x, y) + 0.5, 0, 1)


def _noise(rng: np.random.Generator, w: int, h: int, cell: float) -> np.ndarray:
    """Smooth value noise with features about `cell` pixels across, zero mean, unit-ish amplitude."""
    gw, gh = max(2, int(w / cell) + 2), max(2, int(h / cell) + 2)
    return cv2.resize(rng.standard_normal((gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


TILE = 512  # side of the cached noise tiles


@functools.cache
def noise_tile(smooth: bool) -> np.ndarray:
    """A TILE x TILE field of unit-variance noise, white or smooth (features about 1.5 px), made once
    per process from a fixed seed: random crops of it are cheaper than fresh noise and just as good."""
    rng = np.random.default_rng(2020 + smooth)
    if not smooth:
        return rng.standard_normal((TILE, TILE), np.float32)
    field = cv2.resize(
        rng.standard_normal((TILE * 2 // 3, TILE * 2 // 3), np.float32), (TILE, TILE), interpolation=cv2.INTER_CUBIC
    )
    return field / field.std()


def noise_patch(rng: np.random.Generator, w: int, h: int, smooth: bool) -> np.ndarray:
    """A (h, w) crop of a noise tile at a random place (fresh noise if the tile is too small)."""
    if w > TILE or h > TILE:
        return _noise(rng, w, h, 1.5) if smooth else rng.standard_normal((h, w), np.float32)
    y, x = rng.integers(TILE - h + 1), rng.integers(TILE - w + 1)
    return noise_tile(smooth)[y : y + h, x : x + w]


def pattern(spec: MaskSpec, rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coverage of the second colour, coverage of an accent colour) for the spec's texture."""
    w, h = x.shape[1], y.shape[0]
    none = np.zeros((1, 1), np.float32)
    if spec.texture == "stripes":
        period = w / rng.uniform(6, 13)
        angle = rng.choice([0.0, np.pi / 2, np.pi / 4, -np.pi / 4, rng.uniform(0, np.pi)])
        phase = (x * np.cos(angle) + y * np.sin(angle)) / period
        return _band(phase, period, rng.uniform(0.25, 0.55)), none
    if spec.texture == "checks":
        period = w / rng.uniform(6, 12)
        duty = rng.uniform(0.4, 0.6)
        across, down = _band(x / period, period, duty), _band(y / period, period, duty)
        return (across + down) / 2, across * down * rng.uniform(0, 0.6)
    if spec.texture == "dots":
        pitch = w / rng.uniform(7, 14)
        row = np.round(y / pitch)
        dx = (x - (row % 2) * pitch / 2) / pitch
        dy = y / pitch
        return _disc((dx - np.round(dx)) * pitch, (dy - np.round(dy)) * pitch, pitch * rng.uniform(0.16, 0.3)), none
    if spec.texture == "floral":
        pitch = w / rng.uniform(4.5, 8)
        cols, rows = int(w / pitch) + 2, int(h / pitch) + 2
        jitter = rng.uniform(-0.15, 0.15, (rows, cols, 2)) * pitch
        turn = rng.uniform(0, 2 * np.pi, (rows, cols))
        ci, ri = np.round(x / pitch).astype(int), np.round(y / pitch).astype(int)
        dx = x - ci * pitch - jitter[ri, ci, 0]
        dy = y - ri * pitch - jitter[ri, ci, 1]
        rho, theta = np.hypot(dx, dy), np.arctan2(dy, dx)
        size = pitch * 0.3
        petal_edge = size * (0.45 + 0.55 * np.abs(np.cos(2.5 * (theta - turn[ri, ci]))))
        petals = np.clip(petal_edge - rho + 0.5, 0, 1)
        centre = np.clip(size * 0.28 - rho + 0.5, 0, 1)
        return petals * (1 - centre), centre
    if spec.texture == "camo":
        field = _noise(rng, w, h, w / 5) + 0.5 * _noise(rng, w, h, w / 11)
        lo, hi = np.quantile(field, [0.45, 0.8])
        soft = max(float(field.std()) * 0.06, 1e-3)
        return np.clip((field - lo) / soft + 0.5, 0, 1) * (1 - np.clip((field - hi) / soft + 0.5, 0, 1)), np.clip(
            (field - hi) / soft + 0.5, 0, 1
        )
    return none, none


PLEAT_COUNTS = (2, 3, 3, 3, 4)  # surgical masks: mostly three pleats


def _pleats(v: np.ndarray, count: int, h: int) -> np.ndarray:
    """`count` folds across a surgical mask: a lit lip above each, a shadow below, each pleat's face tilted."""
    folds = 0.3 + 0.46 * np.arange(count) / (count - 1)
    shade = np.ones_like(v)
    px = 1.0 / max(h, 1)  # one canvas pixel in v
    lip, shadow = max(0.018, 0.8 * px), max(0.03, 1.2 * px)
    for f in folds:
        shade += 0.1 * np.exp(-(((v - f + lip) / lip) ** 2)) - 0.28 * np.exp(-(((v - f - shadow * 0.6) / shadow) ** 2))
    section = np.interp(v, np.concatenate([[0], folds, [1]]), np.arange(count + 2) / (count + 1))
    return shade * (1.03 - 0.06 * (section * (count + 1) % 1))


def _border_pixels(u: np.ndarray, v: np.ndarray, w: int, h: int) -> np.ndarray:
    """Distance in canvas pixels from each canvas pixel to the nearest edge of the mask surface."""
    return np.minimum(np.minimum(v, 1 - v) * h, (1 - np.abs(u)) * (w / 2))


@functools.lru_cache(maxsize=512)
def relief(kind: str, w: int, h: int, variant: int = 0) -> np.ndarray:
    """Shading that the mask's own form adds on a (h, w) canvas: pleats, bindings, seams, welds, a moulded dome.

    Deterministic, so it is cached (canvas sizes repeat across a dataset); callers must not modify it.
    variant: the pleat count of a surgical mask, from PLEAT_COUNTS.
    """
    x, y = np.arange(w, dtype=np.float32)[None] + 0.5, np.arange(h, dtype=np.float32)[:, None] + 0.5
    u, v = x / w * 2 - 1, y / h
    px_u, px_v = 2.0 / w, 1.0 / h
    if kind == "surgical":  # a product of a column (pleats, top and bottom bindings) and a row (side bindings)
        column = _pleats(v, variant, h) * np.where((v < 0.07) | (v > 0.93), 0.95, 1.0)
        column *= (
            1
            - 0.1 * np.exp(-(((v - 0.07) / max(px_v, 0.008)) ** 2))
            - 0.1 * np.exp(-(((v - 0.93) / max(px_v, 0.008)) ** 2))
        )
        row = np.where(np.abs(u) > 0.93, 0.95, 1.0)
        wire = (np.abs(u) < 0.28) * (0.07 * np.exp(-(((v - 0.035) / max(px_v, 0.012)) ** 2)))
        shade = column * row + wire
    elif kind == "n95":
        dome = 1 - np.minimum(u**2 * 0.85 + ((v - 0.42) / 0.62) ** 2, 1)
        shade = (0.8 + 0.22 * np.sqrt(dome)) * np.where(_border_pixels(u, v, w, h) < 2.5, 0.9, 1.0)
    elif kind == "kn95":
        seam = np.abs(u) / px_u  # pixels from the centre seam
        row = (1 - 0.25 * np.exp(-((seam / 0.8) ** 2)) + 0.08 * np.exp(-(((seam - 1.8) / 0.8) ** 2))) * np.where(
            u < 0, 1.03, 0.97
        )
        weld_row = np.exp(-(((v - 0.2) / max(px_v * 0.8, 0.01)) ** 2)) * 0.12
        pitch = max(3.0, w / 40)
        along = (u + 1) / px_u + v / px_v  # pixels along the border, whichever side
        dots = _disc(along % pitch - pitch / 2, _border_pixels(u, v, w, h) - 2.2, 0.7)
        shade = (row - weld_row) * (1 - 0.15 * dots)
    elif kind == "cloth":
        seam = np.abs(u) / px_u
        dash = ((np.abs(u) / px_u + v / px_v) % 5) < 2.5
        stitches = dash * np.exp(-(((_border_pixels(u, v, w, h) - 2.5) / 0.6) ** 2))
        shade = (1 - 0.18 * np.exp(-((seam / 0.9) ** 2))) * (1 - 0.15 * stitches)
    else:  # respirator: moulded rubber with a sheen down its middle and a thick sealing lip at the edge
        sheen = np.exp(-((u / 0.3) ** 2) - ((v - 0.35) / 0.35) ** 2)
        shade = (0.88 + 0.22 * sheen) * np.where(_border_pixels(u, v, w, h) < 3.0, 0.82, 1.0)
    shade = np.broadcast_to(shade, (h, w)).astype(np.float32)
    shade.flags.writeable = False
    return shade


def fabric(kind: str, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Fine grain of the material: non-woven fibre mottling, a knit and a gentle pucker for cloth, almost none for rubber."""
    grain = noise_patch(rng, w, h, smooth=True) * (0.01 if kind == "respirator" else 0.025)
    if kind == "cloth":
        grain = grain + 0.04 * _noise(rng, w, h, max(w / 9, 2))
        if w > 60:  # a visible knit once the mask is large enough to show it
            x, y = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)[:, None]
            grain = grain + 0.03 * np.sin(x * 2.2) * np.sin(y * 2.2)
    return 1 + grain


def paint(spec: MaskSpec, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A float32 canvas over the mask surface: (h, w) relief alone when the mask is one plain colour,
    else (h, w, 4) with albedo RGB (0-255) and relief.

    Colours are mixed plane by plane (numpy broadcasting over a trailing axis of 3 is slow); four
    float channels is also the layout that cv2.remap warps fastest.
    """
    variant = PLEAT_COUNTS[int(rng.integers(len(PLEAT_COUNTS)))] if spec.kind == "surgical" else 0
    shade = relief(spec.kind, w, h, variant) * fabric(spec.kind, rng, w, h)
    if spec.texture == "plain" and spec.kind != "n95":
        return shade
    x, y = np.arange(w, dtype=np.float32)[None] + 0.5, np.arange(h, dtype=np.float32)[:, None] + 0.5
    u, v = x / w * 2 - 1, y / h
    accent = spec.second_color if spec.texture != "floral" else (240, 200, 70)
    cover, accent_cover = pattern(spec, rng, x, y)
    clip = None
    if spec.kind == "n95":  # the metal nose clip
        clip = np.clip((0.2 - np.abs(u)) * w / 2 + 0.5, 0, 1) * np.clip((0.035 - np.abs(v - 0.06)) * h + 0.5, 0, 1)
    planes = []
    for base, second, third in zip(spec.color, spec.second_color, accent):
        plane = np.float32(base) + np.float32(second - base) * cover
        plane = plane + (np.float32(third) - plane) * accent_cover
        if clip is not None:
            plane = plane + (np.float32(186) - plane) * clip
        planes.append(np.broadcast_to(plane, (h, w)).astype(np.float32))
    return cv2.merge([*planes, shade.astype(np.float32)])
