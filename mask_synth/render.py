"""Draw a face mask onto one image from its 68 landmarks: the Python API behind mask_synth.

`render_mask` places the mask type's outline and parts on the face (`geometry`), paints fabric,
pattern and relief in the mask's own (u, v) space (`textures`) and warps them onto the face, lights
the result like the face under it, matches the photo's blur and grain (`photometry`) and composites
it with anti-aliased edges. All randomness comes from `seed`: the same inputs give the same bytes.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from mask_synth.geometry import RAIL_POINTS, MaskShape, mask_shape
from mask_synth.photometry import blur_sigma, camera_gain, light_field, noise_sigma
from mask_synth.specs import MASK_TYPES, MaskSpec
from mask_synth.textures import noise_patch, paint

__all__ = ["MASK_TYPES", "MaskResult", "MaskSpec", "render_mask"]

SHIFT = 4  # polygons are filled with 4 fractional bits: 1/16 pixel precision, anti-aliased
EDGE_BLUR = 0.65  # blur of an anti-aliased edge, upsampled bilinearly, in grid pixels
FINEST_DETAIL = 0.8  # a photo blurred by sigma shows no detail finer than sigma / FINEST_DETAIL pixels
STRAP_COLOURS = [(230, 196, 60), (70, 110, 200), (236, 236, 230), (214, 200, 170), (40, 40, 44)]
FILTER_COLOURS = [(196, 40, 140), (230, 120, 170), (196, 184, 70), (120, 122, 126), (36, 36, 40)]
PART_OPACITY = {"highlight": 0.5}


@dataclass
class MaskResult:
    image: np.ndarray  # HxWx3 uint8 RGB, the masked face
    mask: np.ndarray  # HxW uint8, 1 where the mask covers the face (alpha >= 0.5)
    alpha: np.ndarray  # HxW float32 in [0, 1], the soft coverage used to composite


class Grid:
    """The box of the image that the mask layer covers, sampled every `step` pixels (1 to 2).

    A photo blurred by more than FINEST_DETAIL px cannot show the mask's detail at full resolution,
    so the layer is drawn on a coarser grid (up to 4x fewer pixels) and upsampled for compositing.
    Grid pixel j has its centre at image coordinate x0 + j * step + (step - 1) / 2, which is where
    cv2.resize puts it when it upsamples the grid to the box.
    """

    def __init__(self, box: tuple[int, int, int, int], step: float):
        x0, y0, x1, y1 = box
        self.box, self.full = box, (x1 - x0, y1 - y0)
        self.size = (max(2, round(self.full[0] / step)), max(2, round(self.full[1] / step)))
        self.step = np.array([self.full[0] / self.size[0], self.full[1] / self.size[1]])
        self.corner = np.array([x0, y0], np.float64) + (self.step - 1) / 2  # image position of grid pixel (0, 0)

    def local(self, points: np.ndarray) -> np.ndarray:
        """Image coordinates to grid pixel coordinates."""
        return (points - self.corner) / self.step

    def upsample(self, plane: np.ndarray) -> np.ndarray:
        return plane if self.size == self.full else cv2.resize(plane, self.full, interpolation=cv2.INTER_LINEAR)


def fill(polygons: list[np.ndarray], grid: Grid) -> np.ndarray:
    """Anti-aliased coverage (float32 0..1) of polygons (image coordinates) on the grid."""
    canvas = np.zeros((grid.size[1], grid.size[0]), np.uint8)
    pts = [np.round(grid.local(polygon) * (1 << SHIFT)).astype(np.int32) for polygon in polygons]
    cv2.fillPoly(canvas, pts, 255, cv2.LINE_AA, SHIFT)
    return canvas.astype(np.float32) * np.float32(1 / 255)


# Exponents (of x, of y) of the ten terms of a bivariate cubic: 1, x, y, x^2, xy, y^2, x^3, x^2y, xy^2, y^3.
CUBIC_X = np.array([0, 1, 0, 2, 1, 0, 3, 2, 1, 0])
CUBIC_Y = np.array([0, 0, 1, 0, 1, 2, 0, 1, 2, 3])
RAIL_V = np.linspace(0, 1, 6)  # rows of the ruled surface sampled for the fit
# the (u, v) of those samples: u along the rails, v down from the top rail
RAIL_UV = np.stack(np.broadcast_arrays(np.linspace(-1, 1, RAIL_POINTS)[None], RAIL_V[:, None]), -1).reshape(-1, 2)


def surface_uv(shape: MaskShape, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) at the grid's pixels: the inverse of the rails' ruled surface, as a cubic fit.

    The surface maps (u, v) to top(u) + v (bottom(u) - top(u)); a least-squares cubic in grid
    coordinates inverts it smoothly (a pleat stays a smooth curve). A cubic is separable into
    powers of x and of y, so the whole grid is two small matrix products per coordinate.
    """
    top, bottom = grid.local(shape.top), grid.local(shape.bottom)
    points = (top + (bottom - top) * RAIL_V[:, None, None]).reshape(-1, 2)
    centre = (points.min(0) + points.max(0)) / 2
    scale = max(float(np.abs(points - centre).max()), 1e-3)  # coordinates within [-1, 1]: a well-posed fit
    q = (points - centre) / scale
    design = _powers(q[:, 0])[:, CUBIC_X] * _powers(q[:, 1])[:, CUBIC_Y]
    _, coef = cv2.solve(design, RAIL_UV, flags=cv2.DECOMP_NORMAL | cv2.DECOMP_CHOLESKY)
    tables = np.zeros((2, 4, 4))  # [u or v][power of y][power of x]
    tables[:, CUBIC_Y, CUBIC_X] = coef.T
    w, h = grid.size
    x_powers = _powers((np.arange(w) - centre[0]) / scale)
    y_powers = _powers((np.arange(h) - centre[1]) / scale)
    u, v = (y_powers @ tables @ x_powers.T).astype(np.float32)
    return u, v


def _powers(x: np.ndarray) -> np.ndarray:
    """(n, 4): 1, x, x^2, x^3 for each of n values."""
    x = x[:, None]
    square = x * x
    return np.hstack([np.ones_like(x), x, square, square * x])


def part_colours(spec: MaskSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The colour of each part role: loops match the mask (lighter on surgical masks), straps and filters vary."""
    base = np.asarray(spec.color, np.float32)
    cord = base + (245 - base) * 0.5 if spec.kind == "surgical" else base * 0.95
    strap = np.asarray(STRAP_COLOURS[int(rng.integers(len(STRAP_COLOURS)))], np.float32)
    if spec.kind == "respirator":
        strap = np.float32([52, 56, 68])
    filt = np.asarray(FILTER_COLOURS[int(rng.integers(len(FILTER_COLOURS)))], np.float32)
    valve = base * 0.7
    return {
        "cord": cord,
        "strap": strap,
        "rim": filt * 0.55,
        "filter": filt,
        "highlight": filt + (255 - filt) * 0.45,
        "valve": valve,
        "slot": valve * 0.4,
    }


def _box(polygons: list[np.ndarray], margin: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Integer box (x0, y0, x1, y1) round the polygons plus `margin`, clipped to the image; None if outside."""
    pts = np.vstack(polygons)
    x0, y0 = np.floor(pts.min(0) - margin).astype(int)
    x1, y1 = np.ceil(pts.max(0) + margin).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    return (int(x0), int(y0), int(x1), int(y1)) if x1 > x0 and y1 > y0 else None


def _camera(gray: np.ndarray, landmarks: np.ndarray) -> tuple[float, float]:
    """The photo's blur (Gaussian sigma, pixels) and noise (grey levels), measured on the inner face:
    eyes, nose and mouth, where a photo has edges to judge its sharpness by."""
    box = _box([landmarks[27:68]], 2, gray.shape[1], gray.shape[0])
    if box is None:
        return 0.0, 0.0
    face = gray[box[1] : box[3], box[0] : box[2]]
    return blur_sigma(face), noise_sigma(face)


@dataclass(frozen=True)
class Placement:
    """All of a mask that depends only on where it sits, not on its fabric or the photo's colours.

    Cached (`place`): an aligned dataset puts every mask of a type at the same place, so its masks
    share one placement. The arrays are read-only.
    """

    grid: Grid
    cover: np.ndarray  # the surface's coverage on the grid
    map_x: np.ndarray  # where each grid pixel samples the fabric canvas ...
    map_y: np.ndarray
    canvas: tuple[int, int]  # ... of this (width, height)
    parts: tuple[tuple[str, np.ndarray], ...]  # (role, coverage on the grid) in drawing order


@functools.lru_cache(maxsize=64)
def place(kind: str, landmark_bytes: bytes, photo_blur: float, width: int, height: int) -> Placement | None:
    """Where a mask of `kind` goes on the face with these landmarks (float64 bytes), in an image of this size."""
    shape = mask_shape(kind, np.frombuffer(landmark_bytes, np.float64).reshape(68, 2))
    box = _box([shape.outline] + [p.polygon for p in shape.parts], 2 + 2 * photo_blur, width, height)
    if box is None:  # the mask falls wholly outside the image
        return None
    grid = Grid(box, min(2.0, max(1.0, photo_blur / FINEST_DETAIL)))
    u, v = surface_uv(shape, grid)
    step = float(grid.step.mean())
    # about one canvas pixel a grid pixel, in steps of 4 so that canvas sizes (and their cached relief) repeat
    tw = 4 * int(min(max(math.dist(shape.top[-1], shape.top[0]) / step, 8), 320) // 4)
    th = 4 * int(min(max(float(np.sqrt(((shape.bottom - shape.top) ** 2).sum(1)).mean()) / step, 8), 240) // 4)
    parts = tuple(
        (
            role,
            fill([part.polygon for part in shape.parts if part.role == role], grid)
            * np.float32(PART_OPACITY.get(role, 1.0)),
        )
        for role in dict.fromkeys(part.role for part in shape.parts)  # parts of a role share a colour: one pass each
    )
    placement = Placement(grid, fill([shape.outline], grid), (u + 1) * (tw / 2) - 0.5, v * th - 0.5, (tw, th), parts)
    for array in (placement.cover, placement.map_x, placement.map_y, *(a for _, a in parts)):
        array.flags.writeable = False
    return placement


def render_mask(image: np.ndarray, landmarks: np.ndarray, spec: MaskSpec, seed: int | None = None) -> MaskResult:
    """Composite the mask described by `spec` onto `image` (HxWx3 uint8 RGB) at `landmarks` (68x2, pixels).

    seed fixes every random detail (pleats, pattern offsets, strap colours, grain); None draws fresh ones.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"render_mask needs an HxWx3 uint8 RGB image, got {image.dtype} {image.shape}")
    landmarks = np.ascontiguousarray(landmarks, np.float64)
    if landmarks.shape != (68, 2) or not np.isfinite(landmarks).all():
        raise ValueError(f"render_mask needs (68, 2) finite landmarks, got {landmarks.shape}")
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    photo, grain = _camera(gray, landmarks) if spec.match_camera else (0.0, 0.0)
    photo = round(photo * 4) / 4  # quarter pixels: the estimate is no finer, and placements repeat
    placement = place(spec.kind, landmarks.tobytes(), photo, width, height)
    out, alpha = image.copy(), np.zeros((height, width), np.float32)
    if placement is None:
        return MaskResult(out, np.zeros((height, width), np.uint8), alpha)
    grid = placement.grid
    x0, y0, x1, y1 = grid.box

    cover = placement.cover.copy()
    colour = fabric_colour(placement, spec, rng)
    colours = part_colours(spec, rng)
    for role, a in placement.parts:
        colour += (colours[role][:, None, None] - colour) * a
        cover += (1 - cover) * a
    colour *= light_field(gray[y0:y1, x0:x1], cover)
    colour *= camera_gain(image)[:, None, None]
    soften = np.sqrt(max((photo / grid.step.mean()) ** 2 - EDGE_BLUR**2, 0.0))  # grid pixels of blur still missing
    planes = [*colour, cover]
    if soften > 0.1:
        planes = [cv2.GaussianBlur(plane, (0, 0), soften) for plane in planes]
    *colour, cover = [grid.upsample(plane) for plane in planes]

    if grain > 0.5:  # the photo's own grain, the same in every channel
        noise = noise_patch(rng, *grid.full, smooth=False) * np.float32(grain)
        colour = [plane + noise for plane in colour]
    keep = 1 - cover
    for c, plane in enumerate(colour):
        blended = image[y0:y1, x0:x1, c] * keep + plane * cover
        out[y0:y1, x0:x1, c] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    alpha[y0:y1, x0:x1] = cover
    return MaskResult(out, (alpha >= 0.5).astype(np.uint8), alpha)


def fabric_colour(placement: Placement, spec: MaskSpec, rng: np.random.Generator) -> np.ndarray:
    """The mask surface's colour on the grid (planar (3, h, w) float32): pattern and relief, warped on."""
    canvas = paint(spec, rng, *placement.canvas)
    warped = cv2.remap(canvas, placement.map_x, placement.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if canvas.ndim == 2:  # relief only: the mask is one colour
        return np.float32(spec.color)[:, None, None] * warped
    red, green, blue, shade = cv2.split(warped)
    return np.stack([red, green, blue]) * shade
