"""mask_synth.face_check: the similarity and pose fits, the locking test and the frame checks, on exact small cases."""

import numpy as np
import pytest

from face_models import face_in
from mask_synth.face_check import (
    BOX_SHIFT,
    DIAGONAL_SHIFTS,
    TEMPLATE_EYE_DISTANCE,
    apply_transform,
    box_response,
    out_of_frame,
    pose_fit,
    shape_problem,
    shifted_fits,
    similarity_fit,
    similarity_transform,
    tilted_or_tiny,
)
from mask_synth.template import TEMPLATE_68, TEMPLATE_DEPTH, posed_landmarks


def turned(yaw: float, pitch: float = 0.0, scale: float = 1.3, angle: float = 0.2, shift=(40.0, 25.0)) -> np.ndarray:
    """The template in a pose, then scaled, rotated and moved: what a fit of that face would be."""
    points = posed_landmarks(TEMPLATE_68, TEMPLATE_DEPTH, yaw=np.radians(yaw), pitch=np.radians(pitch), center=(56, 56))
    c, s = np.cos(angle), np.sin(angle)
    return apply_transform(np.array([[scale * c, -scale * s, shift[0]], [scale * s, scale * c, shift[1]]]), points)


def test_the_complex_similarity_fit_is_umeyamas():
    """In complex numbers a = <z, w> / <z, z> for centred points: check against the closed form on a 3-point case."""
    z = np.array([0 + 0j, 2 + 0j, 0 + 1j])
    w = (1.5 * np.exp(0.3j)) * z + (4 - 2j)
    a, b = similarity_fit(z, w)
    assert np.isclose(a, 1.5 * np.exp(0.3j)) and np.isclose(b, 4 - 2j)
    matrix = similarity_transform(np.stack([z.real, z.imag], 1), np.stack([w.real, w.imag], 1))
    assert np.allclose(matrix, [[1.5 * np.cos(0.3), -1.5 * np.sin(0.3), 4], [1.5 * np.sin(0.3), 1.5 * np.cos(0.3), -2]])
    batch_a, _ = similarity_fit(np.stack([z, 2 * z]), np.stack([w, w]))  # leading axes are batches
    assert np.allclose(batch_a, [a, a / 2])


@pytest.mark.parametrize("yaw, pitch", [(0.0, 0.0), (37.5, 0.0), (-82.5, 20.0), (90.0, -20.0)])
def test_pose_fit_recovers_a_posed_template_exactly(yaw, pitch):
    residual, pose, points = pose_fit(turned(yaw, pitch))
    assert residual < 1e-6 and np.allclose(pose, [yaw, pitch]) and np.allclose(points, turned(yaw, pitch), atol=1e-4)
    five = [45, 42, 36, 39, 33]  # from some rows alone, the whole face follows
    residual, pose, points = pose_fit(turned(yaw, pitch)[five], five)
    assert residual < 1e-6 and np.allclose(points, turned(yaw, pitch), atol=1e-3)


def test_pose_fit_residual_is_in_eye_distances_whatever_the_scale():
    rng = np.random.default_rng(0)
    shape = turned(15.0) + rng.normal(0, 2.0, (68, 2))
    residual = pose_fit(shape)[0]
    assert pose_fit(shape * 3.0)[0] == pytest.approx(residual)
    # One point off by d (all others exact) moves the best fit a little: the RMS residual is at most d / sqrt(68)
    exact = turned(0.0, scale=1.0)
    exact[30] += [0.0, 10.0]
    assert (
        0.5 * 10.0 / np.sqrt(68) / TEMPLATE_EYE_DISTANCE
        < pose_fit(exact)[0]
        <= 10.0 / np.sqrt(68) / TEMPLATE_EYE_DISTANCE
    )
    assert shape_problem(turned(60.0)) is None
    assert "not a face's shape" in shape_problem(turned(0.0) + rng.normal(0, 0.5 * TEMPLATE_EYE_DISTANCE, (68, 2)))


def test_box_response_measures_how_far_the_points_ride_the_box():
    box = np.array([50, 50, 150, 150.0])
    gray = np.zeros((200, 200), np.uint8)
    riding = lambda gray, box: face_in(np.asarray(box, float))  # noqa: E731 - the shape moves with any box
    locked = lambda gray, box: face_in(np.array([50, 50, 150, 150.0]))  # noqa: E731 - the shape stays
    half = lambda gray, box: (riding(gray, box) + locked(gray, box)) / 2  # noqa: E731
    for predict, expected in ((riding, 1.0), (locked, 0.0), (half, 0.5)):
        fits = shifted_fits(predict, gray, box)
        assert box_response(predict(gray, box), fits, box) == pytest.approx(expected, abs=1e-4)
    moved = shifted_fits(riding, gray, box)[0] - riding(gray, box)
    assert np.allclose(moved, DIAGONAL_SHIFTS[0] * BOX_SHIFT * 100, atol=1e-4)  # shifted by 8% of the side each way


def test_frame_and_size_checks():
    face = turned(0.0, scale=1.0, angle=0.0, shift=(0.0, 0.0))  # the template: a 112 px face
    box = np.array([0, 0, 112, 112.0])
    assert out_of_frame(face, box, 112, 112) is None
    assert out_of_frame(face - [45, 0], box - [45, 0, 45, 0], 112, 112) == "eyes outside the image"
    assert "times the image's size" in out_of_frame(face, box * 3, 112, 112)
    assert tilted_or_tiny(face, 30.0) is None
    assert tilted_or_tiny(face * 0.2, 30.0) == "too small a face"
    assert tilted_or_tiny(turned(90.0, angle=0.0), 30.0) is None  # a profile: its eyes overlap, its axis still tells
    leaning = turned(90.0, angle=np.radians(60.0))
    assert tilted_or_tiny(leaning, 30.0) == "face tilted more than 30 degrees" and tilted_or_tiny(leaning, 80.0) is None
