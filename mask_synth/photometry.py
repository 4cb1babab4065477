"""Measure the photo a mask goes on: its lighting over the face, exposure, colour cast, blur and noise.

A mask looks pasted on when it is lit differently from the face under it, brighter than anything in
the scene, or sharper and cleaner than the photo. These estimates are cheap (a few hundred
microseconds on a 224 px crop) and robust rather than exact: each is a smooth, bounded correction.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

GAIN_SAMPLES = 40  # camera_gain samples this many pixels a side
LIGHT_GRID = 24  # the light field is fitted on the face region shrunk to at most this many pixels a side


def _median(values: np.ndarray) -> float:
    """The (upper) median, by partial sort: np.median's full machinery costs more on small arrays."""
    k = len(values) // 2
    return float(np.partition(values, k)[k])


def light_field(gray: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Relative light over the box of `gray` (1 = the face's typical level under the mask), sampled
    on the grid of `coverage` (the mask's coverage of the same box, at any resolution).

    A quadratic surface fitted to the face's brightness where the mask will cover it: smooth enough
    to ignore lips, nostrils and stubble (pixels darker than 0.6 of the median are left out), yet it
    keeps the light's direction and the fall-off towards the cheeks. It is fitted on a shrunken copy
    and, being separable in x and y, evaluated on the full box by two small matrix products.
    """
    h, w = coverage.shape
    scale = min(1.0, LIGHT_GRID / max(gray.shape))
    sw, sh = max(2, round(gray.shape[1] * scale)), max(2, round(gray.shape[0] * scale))
    lum = cv2.resize(gray, (sw, sh), interpolation=cv2.INTER_LINEAR).astype(np.float64).ravel()
    weight = cv2.resize(coverage, (sw, sh), interpolation=cv2.INTER_LINEAR).ravel()
    used = weight > 0.5
    if np.count_nonzero(used) >= 12:
        used &= lum >= 0.6 * _median(lum[used])
    if np.count_nonzero(used) < 12:
        return np.ones_like(coverage)
    design = _quadratic_design(sw, sh)[used]
    _, coef = cv2.solve(design, lum[used][:, None], flags=cv2.DECOMP_NORMAL | cv2.DECOMP_CHOLESKY)
    c = coef[:, 0]
    table = np.array([[c[0], c[1], c[3]], [c[2], c[4], 0.0], [c[5], 0.0, 0.0]])  # [power of y][power of x]
    fitted = _square_powers(h) @ table @ _square_powers(w).T
    typical = max(_median(design @ c), 1.0)
    return np.clip(fitted * (1 / typical), 0.35, 1.6).astype(np.float32)


@functools.lru_cache(maxsize=256)
def _square_powers(n: int) -> np.ndarray:
    """(n, 3): 1, t, t^2 at the centres of n pixels spanning t = -0.5..0.5 (a box in its own units)."""
    t = ((np.arange(n) + 0.5) / n - 0.5)[:, None]
    return np.hstack([np.ones_like(t), t, t * t])


@functools.lru_cache(maxsize=256)
def _quadratic_design(w: int, h: int) -> np.ndarray:
    """(h * w, 6): the terms 1, x, y, x^2, xy, y^2 of a quadratic at each pixel of a w x h grid, row by row."""
    x = np.tile(_square_powers(w)[:, 1], h)
    y = np.repeat(_square_powers(h)[:, 1], w)
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], 1)


def camera_gain(image: np.ndarray) -> np.ndarray:
    """Per-channel gain for a mask colour: the scene's exposure (its bright end) and colour cast.

    A white mask should be about as bright as the brightest things in the photo, and tinted like
    them. A GAIN_SAMPLES x GAIN_SAMPLES grid of pixels is plenty for these statistics.
    """
    sample = (
        cv2.resize(image, (GAIN_SAMPLES, GAIN_SAMPLES), interpolation=cv2.INTER_NEAREST)
        .reshape(-1, 3)
        .astype(np.float32)
    )
    lum = sample @ np.float32([0.299, 0.587, 0.114])
    ranks = [int(0.9 * (len(lum) - 1)), int(0.98 * (len(lum) - 1))]
    high, white = np.partition(lum, ranks)[ranks]
    exposure = min(max(float(white) / 235.0, 0.55), 1.0) ** 0.7
    mean = sample[lum >= high].mean(0)
    cast = np.clip(np.sqrt(mean / max(float(mean.mean()), 1.0)), 0.85, 1.15)
    return (exposure * cast).astype(np.float32)


def _strong_gradient(gray: np.ndarray) -> float:
    """The 98th percentile of the Sobel gradient magnitude (borders left out)."""
    gx, gy = cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)
    mag = cv2.magnitude(gx, gy)[2:-2:2, 2:-2].ravel()  # every other row is plenty for a percentile
    k = int(0.98 * (len(mag) - 1))
    return float(np.partition(mag, k)[k])


def blur_sigma(gray: np.ndarray) -> float:
    """The photo's blur as a Gaussian sigma in pixels, from how much a further known blur softens its edges.

    An edge blurred by sigma s has peak gradient proportional to 1/s; blurring it again by 1 pixel
    gives 1/sqrt(s^2 + 1). The ratio r of strong-edge gradients before and after gives s = r / sqrt(1 - r^2).
    """
    if min(gray.shape) < 8:
        return 0.0
    g = gray.astype(np.float32)
    before = _strong_gradient(g)
    if before < 4.0:  # a flat patch says nothing about blur
        return 0.0
    ratio = min(_strong_gradient(cv2.GaussianBlur(g, (0, 0), 1.0)) / before, 0.97)
    return float(ratio / np.sqrt(1 - ratio**2))


def noise_sigma(gray: np.ndarray) -> float:
    """The photo's pixel noise (standard deviation, grey levels), robust to edges.

    The 3x3 kernel [[1,-2,1],[-2,4,-2],[1,-2,1]] cancels planes and gentle curves; on white noise of
    sigma s its output has sigma 6 s, and the median absolute output is 0.6745 times that.
    """
    if min(gray.shape) < 4:
        return 0.0
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(cv2.filter2D(gray, cv2.CV_32F, kernel)[1:-1:2, 1:-1]).ravel()
    return _median(response) / (0.6745 * 6)
