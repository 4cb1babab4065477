"""Where the face sits in an aligned benchmark crop, as 68 template landmarks.

Aligned benchmarks ship no landmarks, but every crop of one puts the face in (nearly) the same
place, so the template of `mask_synth.template` placed in the benchmark's crop is enough to draw a
mask on a reference face (the MR-MP protocol). Two layouts:

- "arcface": insightface's 112x112 similarity alignment, the template's own frame.
- "mtcnn": facenet-style MTCNN crops such as MFR2's 160x160 faces: the detector's box around the
  face grown by facenet's default margin, then resized to a square (so x and y scale differently).
  The box runs from ear to ear (the jaw's ends) and from a third of an eye distance above the brows
  down to the chin; facenet's 44-pixel margin on its typical 110-pixel boxes adds a fifth of the box
  on each side.
"""

from __future__ import annotations

import numpy as np

from mask_synth.template import CHIN, JAW, LEFT_BROW, LEFT_EYE, RIGHT_BROW, RIGHT_EYE, TEMPLATE_68, TEMPLATE_SIZE

LAYOUTS = ("arcface", "mtcnn")
MTCNN_MARGIN = 0.2  # of the box's mean side, on each side


def mtcnn_crop() -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of an MTCNN crop in template (112x112 ArcFace) pixels."""
    eye_distance = TEMPLATE_68[RIGHT_EYE, 0].mean() - TEMPLATE_68[LEFT_EYE, 0].mean()
    left, right = TEMPLATE_68[JAW, 0].min(), TEMPLATE_68[JAW, 0].max()
    top = TEMPLATE_68[np.r_[LEFT_BROW, RIGHT_BROW], 1].min() - eye_distance / 3
    bottom = TEMPLATE_68[CHIN, 1]
    margin = MTCNN_MARGIN * ((right - left) + (bottom - top)) / 2
    return float(left - margin), float(top - margin), float(right + margin), float(bottom + margin)


def layout_transform(layout: str, size: int) -> np.ndarray:
    """2x3 affine map from template pixels to a `size`-pixel crop of this layout."""
    if layout == "arcface":
        left, top, right, bottom = 0.0, 0.0, float(TEMPLATE_SIZE), float(TEMPLATE_SIZE)
    elif layout == "mtcnn":
        left, top, right, bottom = mtcnn_crop()
    else:
        raise ValueError(f"unknown face layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    sx, sy = size / (right - left), size / (bottom - top)
    return np.array([[sx, 0.0, -left * sx], [0.0, sy, -top * sy]], np.float32)


def layout_landmarks(layout: str, size: int) -> np.ndarray:
    """The 68 template landmarks (68, 2) where a `size`-pixel crop of this layout puts them."""
    m = layout_transform(layout, size)
    return (TEMPLATE_68 @ m[:, :2].T + m[:, 2]).astype(np.float32)
