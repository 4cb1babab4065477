"""`python -m mask_synth preview INPUT SHEET.png`: a contact sheet of random results, one row per mask type.

A quick look before a long run: the same landmark path and renderer as the full run, on a few
random images of the dataset, each mask type in its own row.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np

from mask_synth.cli import add_landmark_option, resolve_landmarks
from mask_synth.dataset import UnreadableImageError, encode, list_images, read_rgb, write_atomic
from mask_synth.landmarks import NoFaceError
from mask_synth.render import render_mask
from mask_synth.specs import MASK_TYPES, sample_spec
from mask_synth.synth import MaskJob
from mfr.cli import ArgumentParser, one_line_errors
from mfr.errors import ConfigError, DataError


def contact_sheet(
    tiles: list[np.ndarray], columns: int, labels: list[str] | None = None, size: int | None = None
) -> np.ndarray:
    """Tiles (RGB) in a grid, `columns` a row, each resized to `size` px (default: the first tile's) and optionally labelled."""
    size = size or tiles[0].shape[0]
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * size, columns * size, 3), 24, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        tile = cv2.resize(
            tile, (size, size), interpolation=cv2.INTER_AREA if tile.shape[0] > size else cv2.INTER_LINEAR
        )
        if labels and labels[i]:
            scale = size / 320
            cv2.putText(
                tile,
                labels[i],
                (4, int(18 * scale) + 4),
                cv2.FONT_HERSHEY_SIMPLEX,
                scale,
                (255, 255, 0),
                max(1, round(2 * scale)),
                cv2.LINE_AA,
            )
        sheet[r * size : (r + 1) * size, c * size : (c + 1) * size] = tile
    return sheet


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m mask_synth preview", description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path, help="dataset folder: <identity>/<image>")
    parser.add_argument("sheet", type=Path, help="contact sheet to write (PNG)")
    parser.add_argument("--per-type", type=int, default=8, help="results per mask type (one row each)")
    parser.add_argument("--types", default=",".join(MASK_TYPES), help="comma list of mask types, one row each")
    parser.add_argument("--colors", default="natural", choices=("natural", "random"))
    parser.add_argument("--aligned", action="store_true", help="inputs are ArcFace-aligned: template landmarks")
    add_landmark_option(parser)
    parser.add_argument("--show-landmarks", action="store_true", help="draw the 68 landmarks used")
    parser.add_argument("--size", type=int, default=192, help="tile size in pixels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.types.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in MASK_TYPES]
    if unknown:
        raise ConfigError(f"--types: unknown mask type(s) {', '.join(unknown)}; allowed: {', '.join(MASK_TYPES)}")
    sources, _ = list_images(args.input)
    if not sources:
        raise DataError(f"INPUT {args.input}: no images (expected <identity>/<image> files)")
    job = MaskJob(str(args.input), "", aligned=args.aligned)
    if not args.aligned:
        job.landmarks, job.prior_box = resolve_landmarks(args.landmarks, "preview", args.input, sources)
    job.setup()
    rng = np.random.default_rng(args.seed)
    order = itertools.cycle(rng.permutation(len(sources)).tolist())
    tiles, labels, skipped = [], [], 0
    for kind in kinds:
        made = 0
        while made < args.per_type:
            if skipped > len(sources):
                raise DataError(f"INPUT {args.input}: no usable image (all unreadable or without a face)")
            source = sources[next(order)]
            try:
                image = read_rgb(args.input / source)
                found = job.find_landmarks(source, image)
            except (UnreadableImageError, NoFaceError):
                skipped += 1
                continue
            spec = sample_spec(rng, kinds=[kind], palette=args.colors)
            result = render_mask(image, found.points, spec, seed=int(rng.integers(2**31)))
            tile = result.image
            if args.show_landmarks:
                for x, y in found.points:
                    cv2.circle(tile, (int(round(x)), int(round(y))), max(1, image.shape[0] // 100), (0, 255, 0), -1)
            tiles.append(tile)
            labels.append(f"{kind} {spec.texture}" if made == 0 else (spec.texture if spec.texture != "plain" else ""))
            made += 1
    write_atomic(args.sheet, encode(contact_sheet(tiles, args.per_type, labels, args.size), str(args.sheet)))
    print(
        f"preview: {len(tiles)} results in {args.sheet}"
        + (f" ({skipped} images skipped: unreadable or no face)" if skipped else "")
    )
    return 0
