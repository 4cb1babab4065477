"""`python -m mfr.align INPUT OUTPUT`: align every face of an identity-folder dataset to ArcFace's template.

Per image: 68 landmarks (mask_synth.landmarks: a face-box prior for tight crops, dlib's detector,
the whole image as a last resort), five points from them (eye centres, nose tip, mouth corners),
the least-squares similarity transform (Umeyama) onto insightface's 112x112 five-point template,
and a warp. OUTPUT mirrors INPUT's folders and holds manifest.jsonl: per source its status (aligned,
fallback, failed) with the reason, the landmark path, the transform and the 68 landmarks mapped into
the aligned image, which `python -m mask_synth OUTPUT MASKED --aligned` then uses for its masks.
Runs in parallel, sharded and resumable on mask_synth's job runner.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mask_synth.cli import add_landmark_option, add_run_options, run_dataset
from mask_synth.dataset import UnreadableImageError, encode, identity_of, output_name, read_rgb, write_atomic
from mask_synth.face_check import apply_transform, similarity_transform
from mask_synth.landmarks import FALLBACK_SOURCES, TIGHT_CROP_BOX, LandmarkFinder, NoFaceError
from mask_synth.preview import contact_sheet
from mask_synth.runner import FAILED, load_records
from mask_synth.template import ARCFACE_5, LEFT_EYE, NOSE_TIP, RIGHT_EYE, TEMPLATE_SIZE
from mfr.cli import ArgumentParser, one_line_errors

ALIGNED, FALLBACK = "aligned", "fallback"
STATUSES = (ALIGNED, FALLBACK, FAILED)


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """ArcFace's five points from 68 landmarks: eye centres, nose tip, mouth corners (image left first)."""
    p = np.asarray(landmarks, np.float64)
    return np.stack([p[LEFT_EYE].mean(0), p[RIGHT_EYE].mean(0), p[NOSE_TIP], p[48], p[54]])


@dataclass
class AlignJob:
    """Options of an alignment run; calling it on a source path aligns that image (see mask_synth.runner.Job)."""

    input_dir: str
    output_dir: str
    size: int = TEMPLATE_SIZE
    landmarks: str = "tight"  # LandmarkFinder strategy ...
    prior_box: tuple = TIGHT_CROP_BOX  # ... and its face-box prior (see mask_synth.cli.resolve_landmarks)
    image_format: str = "same"
    quality: int = 95
    name = "align"

    def config(self) -> dict:
        keys = ("size", "landmarks", "prior_box", "image_format", "quality")
        return {k: getattr(self, k) for k in keys}

    def outputs(self, source: str) -> list[str]:
        return [output_name(source, self.image_format)]

    def setup(self) -> None:
        self._finder = LandmarkFinder(self.landmarks, self.prior_box)

    def __call__(self, source: str) -> dict:
        record = {
            "source": source,
            "identity": identity_of(source),
            "status": FAILED,
            "reason": None,
            "landmark_source": None,
            "aligned": None,
            "transform": None,
            "landmarks": None,
        }
        try:
            image = read_rgb(Path(self.input_dir, source))
        except UnreadableImageError as error:
            return {**record, "reason": f"unreadable: {error.cause}"}
        try:
            found = self._finder(image)
        except NoFaceError as error:
            return {**record, "reason": str(error)}
        template = ARCFACE_5 * (self.size / TEMPLATE_SIZE)
        matrix = similarity_transform(five_points(found.points), template)
        aligned = cv2.warpAffine(image, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        (name,) = self.outputs(source)
        write_atomic(Path(self.output_dir, name), encode(aligned, name, self.quality))
        record.update(
            status=FALLBACK if found.source in FALLBACK_SOURCES else ALIGNED,
            landmark_source=found.source,
            aligned=name,
            transform=np.round(matrix, 6).tolist(),
            landmarks=np.round(apply_transform(matrix, found.points), 2).tolist(),
        )
        return record


def write_sheet(output_dir: Path, path: Path, count: int, size: int) -> None:
    """A contact sheet of aligned faces with the template's five points drawn on, to check the alignment by eye."""
    records = [r for r in load_records(output_dir).values() if r["status"] != FAILED]
    picks = np.random.default_rng(0).permutation(len(records))[:count]
    tiles = []
    for i in picks:
        face = read_rgb(output_dir / records[i]["aligned"])
        for x, y in ARCFACE_5 * (size / TEMPLATE_SIZE):
            cv2.circle(face, (int(round(x)), int(round(y))), max(1, size // 56), (0, 255, 0), -1, cv2.LINE_AA)
        tiles.append(face)
    write_atomic(path, encode(contact_sheet(tiles, columns=12), str(path)))
    print(f"align: contact sheet of {len(tiles)} aligned faces (green: template points) in {path}")


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="python -m mfr.align",
        description="Align every face of an identity-folder dataset (INPUT/<identity>/<image>) to ArcFace's five-point template.",
        epilog="OUTPUT mirrors INPUT's folders; manifest.jsonl holds one record per source image (status, reason, landmark "
        "path, transform, the 68 landmarks in the aligned image); align.json the options. "
        "'python -m mask_synth OUTPUT MASKED --aligned' masks the result with these landmarks.",
    )
    parser.add_argument("input", type=Path, help="dataset folder: <identity>/<image>, deeper folders kept")
    parser.add_argument("output", type=Path, help="aligned dataset folder (created; a rerun resumes it)")
    parser.add_argument(
        "--size", type=int, default=TEMPLATE_SIZE, help="side of the aligned square crops (default 112)"
    )
    add_landmark_option(parser)
    parser.add_argument(
        "--format", dest="image_format", choices=("same", "jpg", "png"), default="same", help="aligned image format"
    )
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality")
    parser.add_argument("--sheet", type=Path, default=None, help="also write a contact sheet PNG of aligned faces here")
    parser.add_argument("--sheet-count", type=int, default=96, help="faces on the contact sheet")
    add_run_options(parser)
    args = parser.parse_args(argv)
    job = AlignJob(str(args.input), str(args.output), args.size, image_format=args.image_format, quality=args.quality)
    status = run_dataset(job, args.input, args.output, args, STATUSES)
    if args.sheet is not None and status == 0:
        write_sheet(args.output, args.sheet, args.sheet_count, args.size)
    return status


if __name__ == "__main__":
    sys.exit(main())
