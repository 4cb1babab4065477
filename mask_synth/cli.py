"""`python -m mask_synth INPUT OUTPUT [options]`: mask a whole identity-folder dataset.

OUTPUT receives masked/<identity>/<image> (the twins), mask_map/<identity>/<image>.png (1 = mask),
optionally original/<identity>/<image>, manifest.jsonl (one record per source image) and
mask_synth.json (the options, checked when a run is resumed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mask_synth import runner
from mask_synth.dataset import UnreadableImageError, list_images, read_rgb
from mask_synth.landmarks import TIGHT_CROP_BOX, calibrate, dlib_models
from mask_synth.specs import MASK_TYPES, TEXTURES, parse_mix
from mask_synth.synth import STATUSES, MaskJob
from mfr.cli import ArgumentParser, one_line_errors
from mfr.errors import ConfigError, DataError


def parse_colours(text: str) -> str | list:
    """--colors: natural, random, or colours "R,G,B;R,G,B;..."."""
    if text in ("natural", "random"):
        return text
    try:
        colours = [tuple(int(c) for c in item.split(",")) for item in text.split(";") if item.strip()]
    except ValueError:
        colours = []
    if not colours or any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in colours):
        raise ConfigError(f"--colors={text!r}; allowed: natural, random or 'R,G,B;R,G,B' with values 0-255")
    return colours


def parse_textures(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in TEXTURES]
    if unknown or not names:
        raise ConfigError(
            f"--textures={text!r}: unknown {', '.join(unknown) or 'empty list'}; allowed: {', '.join(TEXTURES)}"
        )
    return names


CALIBRATION_SAMPLE = 40  # images, spread over the dataset, on which --landmarks auto measures where faces sit


def add_landmark_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--landmarks",
        choices=("auto", "tight", "detect"),
        default="auto",
        help="how faces are found: tight = a face-box prior for tight crops like RMFD's first, detect = dlib's "
        "detector first, auto (default) = measure where this dataset's faces sit on a sample and choose",
    )


def resolve_landmarks(
    requested: str, name: str, input_dir: Path, sources: list[str], output_dir: Path | None = None
) -> tuple[str, tuple]:
    """The landmark strategy and face-box prior of a run: as asked, as an existing output was made with, or measured (auto)."""
    if requested != "auto":
        return requested, TIGHT_CROP_BOX
    stored = output_dir / f"{name}.json" if output_dir is not None else None
    if stored is not None and stored.exists():
        config = json.loads(stored.read_text())
        if "landmarks" in config and "prior_box" in config:
            return config["landmarks"], tuple(config["prior_box"])
    sample = sources[:: max(1, len(sources) // CALIBRATION_SAMPLE)][:CALIBRATION_SAMPLE]
    models = dlib_models()
    calibration = calibrate(_readable(input_dir, sample), models.predict, models.detect)
    print(f"{name}: landmarks: {calibration.describe()}", file=sys.stderr)
    return calibration.strategy, calibration.prior_box


def _readable(input_dir: Path, sources: list[str]):
    for source in sources:
        try:
            yield read_rgb(input_dir / source)
        except UnreadableImageError:
            continue


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by every dataset tool built on mask_synth.runner."""
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1; 0 = one per CPU core)")
    parser.add_argument(
        "--shard", default="0/1", help="process only part i of n (i/n), e.g. one task of a cluster array job"
    )
    parser.add_argument("--retry-failed", action="store_true", help="redo images the manifest records as failed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_dataset(
    job,
    input_dir: Path,
    output_dir: Path,
    args: argparse.Namespace,
    statuses: tuple[str, ...],
    needs_landmarks: bool = True,
) -> int:
    """List INPUT, run the job over it and print the summary; the exit status of a dataset tool (bad input
    raises a ConfigError, which the command prints as one line).

    A job with `landmarks` and `prior_box` options gets them resolved from --landmarks first.
    """
    shard = runner.Shard.parse(args.shard)  # every option is checked before any image is read
    if not input_dir.is_dir():
        raise DataError(f"INPUT {input_dir}: not a folder (expected <identity>/<image> files)")
    if input_dir.resolve() in output_dir.resolve().parents or input_dir.resolve() == output_dir.resolve():
        raise ConfigError(f"OUTPUT {output_dir} is inside INPUT {input_dir}; allowed: a folder outside it")
    sources, others = list_images(input_dir)
    if others:
        print(f"{job.name}: {others} files under {input_dir} are not images and were left alone", file=sys.stderr)
    if not sources:
        raise DataError(f"INPUT {input_dir}: no images (expected <identity>/<image> files)")
    if needs_landmarks:
        job.landmarks, job.prior_box = resolve_landmarks(args.landmarks, job.name, input_dir, sources, output_dir)
    workers = args.workers if args.workers > 0 else (os.cpu_count() or 1)
    result = runner.run(
        job,
        sources,
        output_dir,
        workers=workers,
        shard=shard,
        retry_failed=args.retry_failed,
        progress=not args.quiet,
        rejected=runner.output_clashes(job, sources),
    )
    print(runner.summary(result, job.name, statuses))
    return 130 if result.interrupted else 0


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m mask_synth",
        description="Draw face masks on every image of an identity-folder dataset (INPUT/<identity>/<image>). "
        "Other commands: 'python -m mask_synth preview' (contact sheet), 'python -m mask_synth bench' (throughput).",
        epilog="OUTPUT receives masked/ (the twins), mask_map/ (PNG, 1 = mask pixel), original/ (with --keep-original), "
        "each mirroring INPUT's folders, manifest.jsonl (one record per source image: outputs, identity, mask spec, seed, "
        "landmark path, status and reason) and mask_synth.json (the options; a rerun with the same options resumes).",
    )
    parser.add_argument("input", type=Path, help="dataset folder: <identity>/<image>, deeper folders kept")
    parser.add_argument("output", type=Path, help="output folder (created; a rerun resumes it)")
    parser.add_argument(
        "--types",
        default="mix",
        help=f"mask types: mix (realistic weights), random (all alike), one of {', '.join(MASK_TYPES)}, or kind=weight,...",
    )
    parser.add_argument(
        "--colors", default="natural", help="natural (each type's real colours), random, or 'R,G,B;R,G,B'"
    )
    parser.add_argument(
        "--textures", default=None, help=f"comma list from {', '.join(TEXTURES)} (default: natural per type)"
    )
    parser.add_argument("--seed", type=int, default=0, help="run seed; same seed and input give identical outputs")
    parser.add_argument(
        "--aligned",
        action="store_true",
        help="inputs are 112x112 ArcFace-aligned crops: template landmarks, no detection",
    )
    add_landmark_option(parser)
    parser.add_argument("--keep-original", action="store_true", help="also copy each source to OUTPUT/original/")
    parser.add_argument(
        "--no-camera-match",
        dest="match_camera",
        action="store_false",
        help="do not blur and grain masks like their photos (crisp, clean masks)",
    )
    parser.add_argument(
        "--format", dest="image_format", choices=("same", "jpg", "png"), default="same", help="masked twin format"
    )
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality of masked twins")
    parser.add_argument("--save-landmarks", action="store_true", help="store the 68 landmarks in each manifest record")
    add_run_options(parser)
    return parser


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    job = MaskJob(
        input_dir=str(args.input),
        output_dir=str(args.output),
        seed=args.seed,
        mix=parse_mix(args.types),
        palette=parse_colours(args.colors),
        textures=parse_textures(args.textures),
        aligned=args.aligned,
        keep_original=args.keep_original,
        match_camera=args.match_camera,
        image_format=args.image_format,
        quality=args.quality,
        save_landmarks=args.save_landmarks,
    )
    return run_dataset(job, args.input, args.output, args, STATUSES, needs_landmarks=not args.aligned)
