"""The landmarks `python -m mfr.align` stored for an aligned dataset, as a verification set's meta.

MR-MP draws a mask on each reference at that reference's own landmarks; for a set aligned by
mfr.align they are in its manifest (the 68 points mapped into the aligned image), so nothing has to
be found again and nothing is taken from a template.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mask_synth.synth import AlignedLandmarks

MANIFEST = "manifest"  # meta["landmark_source"] of landmarks read from mfr.align's manifest


def alignment_landmarks(root: str | Path, keys: list[str], size: int | None = None) -> dict[str, np.ndarray]:
    """meta["landmarks"] (n, 68, 2) and meta["landmark_source"] for the images `keys` (paths relative to `root`)
    of a dataset mfr.align wrote, in pixels of the images resized to `size` (None: as aligned); {} when `root`
    was not written by mfr.align (no align.json). An image the manifest holds no landmarks for gets NaNs."""
    root = Path(root).expanduser()
    options = root / "align.json"
    if not options.is_file():
        return {}
    aligned_size = json.loads(options.read_text())["size"]
    stored = AlignedLandmarks(root)
    landmarks = np.full((len(keys), 68, 2), np.nan, np.float32)
    for row, key in enumerate(keys):
        points = stored.get(key)
        if points is not None:
            landmarks[row] = points * ((size or aligned_size) / aligned_size)
    return {"landmarks": landmarks, "landmark_source": np.full(len(keys), MANIFEST)}
