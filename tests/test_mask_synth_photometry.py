"""mask_synth.photometry: the photo measurements that light, blur and grain a mask, on exact cases."""

import cv2
import numpy as np

from mask_synth.photometry import blur_sigma, camera_gain, light_field, noise_sigma


def rectangles(seed: int = 0, size: int = 128) -> np.ndarray:
    """A piecewise-constant grey image: sharp edges everywhere."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size), 100, np.float32)
    for _ in range(40):
        x, y = rng.integers(0, size - 8, 2)
        w, h = rng.integers(8, 40, 2)
        image[y : y + h, x : x + w] = rng.uniform(20, 230)
    return image


def test_blur_sigma_recovers_a_known_blur():
    sharp = rectangles()
    assert blur_sigma(sharp.astype(np.uint8)) < 1.0  # pixel sampling alone reads about 0.8 px
    estimates = [
        blur_sigma(np.clip(cv2.GaussianBlur(sharp, (0, 0), s), 0, 255).astype(np.uint8)) for s in (1.5, 2.0, 3.0)
    ]
    for true, estimate in zip((1.5, 2.0, 3.0), estimates):
        assert abs(estimate - true) < 0.25 * true
    assert estimates == sorted(estimates)


def test_blur_sigma_of_a_flat_patch_is_zero():
    assert blur_sigma(np.full((40, 40), 128, np.uint8)) == 0.0


def test_noise_sigma_recovers_known_noise_on_a_gradient():
    rng = np.random.default_rng(1)
    ramp = np.linspace(40, 200, 160)[None, :] + np.linspace(0, 30, 120)[:, None]
    for sigma in (2.0, 5.0, 10.0):
        noisy = np.clip(ramp + rng.normal(0, sigma, ramp.shape), 0, 255).astype(np.uint8)
        assert abs(noise_sigma(noisy) - sigma) < 0.12 * sigma
    assert noise_sigma(ramp.astype(np.uint8)) < 0.5


def test_light_field_follows_a_linear_light_and_ignores_dark_features():
    h, w = 60, 80
    ramp = np.tile(np.linspace(100, 200, w, dtype=np.float32), (h, 1))
    face = ramp.copy()
    face[25:35, 30:50] = 20  # a dark mouth: left out of the fit
    coverage = np.ones((h, w), np.float32)
    light = light_field(face.astype(np.uint8), coverage)
    expected = ramp / np.median(ramp)
    assert light.shape == (h, w) and light.dtype == np.float32
    assert np.abs(light - expected).max() < 0.03
    coarse = light_field(face.astype(np.uint8), cv2.resize(coverage, (40, 30)))  # on a coarser grid of the same box
    assert coarse.shape == (30, 40) and np.abs(coarse[:, 0].mean() - 100 / 150) < 0.03


def test_camera_gain_reads_exposure_and_cast():
    bright = np.full((64, 64, 3), 240, np.uint8)
    assert np.allclose(camera_gain(bright), 1.0, atol=0.02)
    dark = np.full((64, 64, 3), 80, np.uint8)
    assert np.allclose(camera_gain(dark), 0.55**0.7, atol=0.02)  # exposure floors at 0.55
    warm = np.zeros((64, 64, 3), np.uint8) + np.array([250, 220, 180], np.uint8)
    gain = camera_gain(warm)
    assert gain[0] > gain[1] > gain[2]  # a warm scene tints a white mask warm
