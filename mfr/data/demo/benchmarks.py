"""SYNTHETIC benchmark trees: procedurally drawn demo faces written in MFR2's published layout.

For tests, and for trying `python -m mfr.evaluate data=mfr2 data.root=DIR` without the real MFR2:
the files, labels and pairs follow MFR2's format exactly, the faces are `mfr.data.demo.faces` drawings of
nobody, placed in the "mtcnn" crop layout, and the masked ones wear mask_synth masks of the
labelled type. Figures measured on such a tree say nothing about real masked faces.

    python -m mfr.data.demo.benchmarks DIR [--identities 53] [--pairs 848]
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mask_synth import render_mask
from mask_synth.dataset import encode, write_atomic
from mfr.cli import ArgumentParser, one_line_errors
from mfr.data.demo.faces import draw_face, sample_identity, sample_shot
from mfr.data.readers.layouts import layout_transform
from mfr.data.readers.mask_labels import UNMASKED, spec_for_label

MFR2_MASK_LABELS = ("surgical", "surgical_blue", "surgical_green", "N95", "KN95", "cloth")
DRAW_SIZE = 224  # drawn larger than the crop, then resampled into it


def mtcnn_face(person, rng: np.random.Generator, size: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """One face in the MTCNN crop layout: (image, 68 landmarks)."""
    image, landmarks = draw_face(person, sample_shot(rng), DRAW_SIZE, rng)
    to_crop = layout_transform("mtcnn", size) @ np.diag([112 / DRAW_SIZE, 112 / DRAW_SIZE, 1.0])
    crop = cv2.warpAffine(image, to_crop, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return crop, landmarks @ to_crop[:, :2].T + to_crop[:, 2]


def write_mfr2(
    root: str | Path, identities: int = 53, images_per_identity: int = 5, pairs: int = 848, seed: int = 0
) -> Path:
    """Write a synthetic MFR2 tree: per identity two unmasked images and the rest masked; half the pairs genuine."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    names = [f"Synthetic{k:03d}" for k in range(identities)]
    labels = []
    for name in names:
        person = sample_identity(rng)
        for i in range(1, images_per_identity + 1):
            image, landmarks = mtcnn_face(person, rng)
            label = UNMASKED if i <= 2 else str(rng.choice(MFR2_MASK_LABELS))
            if label != UNMASKED:
                image = render_mask(image, landmarks, spec_for_label(label)[0], seed=int(rng.integers(2**31))).image
            path = root / name / f"{name}_{i:04d}.png"
            write_atomic(path, encode(image, path.name))
            labels.append(f"{name}, {i}, {label}")
    lines = []
    for p in range(pairs):
        a = int(rng.integers(identities))
        i, j = rng.choice(images_per_identity, 2, replace=False) + 1
        if p % 2 == 0:
            lines.append(f"{names[a]}\t{i}\t{j}")
        else:
            b = (a + 1 + int(rng.integers(identities - 1))) % identities
            lines.append(f"{names[a]}\t{i}\t{names[b]}\t{j}")
    write_atomic(root / "mfr2_labels.txt", "\n".join(labels) + "\n")
    write_atomic(root / "pairs.txt", "\n".join(lines[k] for k in rng.permutation(pairs)) + "\n")
    return root


@one_line_errors()
def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(
        prog="python -m mfr.data.demo.benchmarks", description="Write a SYNTHETIC MFR2-layout tree of demo faces."
    )
    parser.add_argument("root")
    parser.add_argument("--identities", type=int, default=53)
    parser.add_argument("--images-per-identity", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=848)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = write_mfr2(args.root, args.identities, args.images_per_identity, args.pairs, args.seed)
    print(f"wrote a SYNTHETIC MFR2-layout tree to {root}: {args.identities} identities, {args.pairs} pairs")


if __name__ == "__main__":
    main()
