"""`python -m mask_synth bench INPUT [--aligned]`: throughput of a real run, and where the time goes.

Runs the full job (read, landmarks, render, encode, atomic writes, manifest) on INPUT into a
temporary folder, several times, and prints images per second per worker: wall clock from the first
record to the last (model loading excluded, shown apart) and per CPU second of the processes doing
the work, which is what the code costs when other jobs share the machine. Then it times each stage
on a sample in this process and counts the landmark paths taken; --landmark-check also measures the
landmarks against dlib's detector and refits the face-box constants of mask_synth.landmarks.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from mask_synth import runner
from mask_synth.cli import add_landmark_option, resolve_landmarks
from mask_synth.dataset import encode, list_images, read_rgb
from mask_synth.landmarks import BOX_RISE_PER_RADIUS, BOX_SIDE_PER_RADIUS, LandmarkFinder, NoFaceError, dlib_models
from mask_synth.render import render_mask
from mask_synth.specs import sample_spec
from mask_synth.synth import MaskJob, image_seed
from mfr.cli import ArgumentParser, one_line_errors
from mfr.errors import DataError


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_run(job: MaskJob, sources: list[str], workers: int, scratch: Path | None = None) -> dict:
    """One run into a fresh temporary folder: wall time first-to-last record, CPU time, statuses, paths."""
    out = Path(tempfile.mkdtemp(prefix="mask_synth_bench_", dir=scratch))
    stamps, paths = [], Counter()

    def note(record):
        stamps.append(time.perf_counter())
        paths[record["landmark_source"] or "none"] += 1

    try:
        job.output_dir = str(out)
        cpu, start = _cpu_seconds(), time.perf_counter()
        result = runner.run(job, sources, out, workers=workers, progress=False, on_record=note)
        wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    finally:
        shutil.rmtree(out, ignore_errors=True)
    steady = (
        (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else float("nan")
    )
    return {"steady": steady, "wall": wall, "cpu": cpu, "statuses": result.statuses, "paths": paths, "n": len(sources)}


def stage_times(job: MaskJob, sources: list[str]) -> dict[str, float]:
    """Median milliseconds per image of each stage, in this process."""
    times = {"read": [], "landmarks": [], "render": [], "encode": []}
    for source in sources:
        t0 = time.perf_counter()
        image = read_rgb(Path(job.input_dir, source))
        t1 = time.perf_counter()
        try:
            found = job.find_landmarks(source, image)
        except Exception:  # noqa: BLE001 - a failed image has no render stage to time
            continue
        t2 = time.perf_counter()
        seed = image_seed(0, source)
        result = render_mask(image, found.points, sample_spec(np.random.default_rng(seed), kinds=job.mix), seed=seed)
        t3 = time.perf_counter()
        encode(result.image, "x.jpg", job.quality), encode(result.mask, "x.png")
        t4 = time.perf_counter()
        for name, seconds in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            times[name].append(seconds)
    return {name: 1000 * statistics.median(values) for name, values in times.items() if values}


def detector_rate(input_dir: Path, sources: list[str]) -> float:
    """Images per second of dlib's HOG detector alone, upsampling once, on these images (decoded beforehand):
    a yardstick run under the same load as the job, since a shared machine's speed varies from minute to minute."""
    detect = dlib_models().detect
    grays = [cv2.cvtColor(read_rgb(input_dir / s), cv2.COLOR_RGB2GRAY) for s in sources]
    start = time.perf_counter()
    for gray in grays:
        detect(gray, 1)
    return len(grays) / (time.perf_counter() - start)


def landmark_check(input_dir: Path, sources: list[str]) -> None:
    """Where dlib's detector (upsampled once) finds the face, compare LandmarkFinder's landmarks with the
    detector-box landmarks, and refit the box constants of mask_synth.landmarks from the detector's boxes."""
    finder = LandmarkFinder()
    errors, sides, rises, found = [], [], [], 0
    for source in sources:
        image = read_rgb(input_dir / source)
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        boxes = finder.detect(gray, 1)
        if not boxes:
            continue
        found += 1
        box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        reference = finder.predict(gray, box).astype(np.float64)
        try:
            points = finder(image).points
        except NoFaceError:
            errors.append(np.inf)
            continue
        eyes = np.linalg.norm(reference[42:48].mean(0) - reference[36:42].mean(0))
        errors.append(float(np.linalg.norm(points - reference, axis=1).mean() / eyes))
        centre = reference.mean(0)
        radius = np.sqrt(((reference - centre) ** 2).sum(1).mean())
        sides.append((box[2] - box[0]) / radius)
        rises.append((centre[1] - (box[1] + box[3]) / 2) / radius)
    errors = np.array(errors)
    print(
        f"  landmark check: the detector finds {found} of {len(sources)} faces ({100 * found / len(sources):.1f}%); on those, "
        f"mean landmark distance to the detector-box fit, in inter-ocular distances: median {np.median(errors):.3f}, "
        f"95th percentile {np.percentile(errors, 95):.3f}, over 0.1: {100 * (errors > 0.1).mean():.1f}%"
    )
    print(
        f"  detector boxes: side {np.mean(sides):.2f} x RMS radius, centre {np.mean(rises):.3f} x radius above the points' centroid "
        f"(BOX_SIDE_PER_RADIUS = {BOX_SIDE_PER_RADIUS}, BOX_RISE_PER_RADIUS = {BOX_RISE_PER_RADIUS})"
    )


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m mask_synth bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path, help="dataset folder: <identity>/<image>")
    parser.add_argument(
        "--aligned", action="store_true", help="inputs are ArcFace-aligned: template or mfr.align landmarks"
    )
    add_landmark_option(parser)
    parser.add_argument("--limit", type=int, default=0, help="use this many images, spread over the dataset (0 = all)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; best and median are reported")
    parser.add_argument(
        "--scratch",
        type=Path,
        default=None,
        help="where the runs write their outputs (default: the system's temporary folder); a RAM disk "
        "such as /dev/shm takes the disk out of the figures",
    )
    parser.add_argument("--stage-sample", type=int, default=200, help="images for the per-stage timing")
    parser.add_argument(
        "--yardstick",
        type=int,
        default=0,
        metavar="N",
        help="also time dlib's HOG detector alone (upsampling once) on N images before and after the runs, "
        "and report the job's speed as a multiple of it (comparable across machine loads)",
    )
    parser.add_argument(
        "--landmark-check",
        type=int,
        default=0,
        metavar="N",
        help="also compare the landmark paths with dlib's detector on N images (slow: the detector runs upsampled)",
    )
    args = parser.parse_args(argv)
    sources, _ = list_images(args.input)
    if not sources:
        raise DataError(f"INPUT {args.input}: no images (expected <identity>/<image> files)")
    if args.limit and args.limit < len(sources):
        sources = [sources[i] for i in np.linspace(0, len(sources) - 1, args.limit).round().astype(int)]
    job = MaskJob(str(args.input), "", aligned=args.aligned)
    if not args.aligned:
        job.landmarks, job.prior_box = resolve_landmarks(args.landmarks, "bench", args.input, sources)
    runner.limit_threads()
    start = time.perf_counter()
    job.setup()
    setup = time.perf_counter() - start
    shape = read_rgb(args.input / sources[0]).shape

    print(
        f"mask_synth bench: {len(sources)} images from {args.input} ({shape[1]}x{shape[0]} first), outputs to {args.scratch or tempfile.gettempdir()}, "
        f"{'--aligned' if args.aligned else 'landmarks: ' + job.landmarks}, workers={args.workers}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start"
    )
    print(f"  model loading (once per worker, not in the rates below): {setup:.2f} s")
    yardstick_sample = sources[:: max(1, len(sources) // max(args.yardstick, 1))][: args.yardstick]
    yardsticks = [detector_rate(args.input, yardstick_sample)] if args.yardstick else []
    runs = [timed_run(job, sources, args.workers, args.scratch) for _ in range(args.repeat)]
    if args.yardstick:
        yardsticks.append(detector_rate(args.input, yardstick_sample))
    steady = [r["steady"] / args.workers for r in runs]
    per_cpu = [r["n"] / r["cpu"] for r in runs]
    print(
        f"  images/s per worker, wall clock: best {max(steady):.1f}, median {statistics.median(steady):.1f} (runs: {', '.join(f'{s:.1f}' for s in steady)})"
    )
    print(
        f"  images per CPU-second (all processes, model loading included): best {max(per_cpu):.1f}, median {statistics.median(per_cpu):.1f}"
    )
    if yardsticks:
        hog = statistics.mean(yardsticks)
        print(
            f"  yardstick: dlib's HOG detector alone, upsampling once, {hog:.1f} images/s (before {yardsticks[0]:.1f}, after {yardsticks[-1]:.1f}); "
            f"the job runs at {statistics.median(steady) / hog:.2f}x that (median run)"
        )
    last = runs[-1]
    total = sum(last["statuses"].values())
    print("  statuses: " + ", ".join(f"{s} {n} ({100 * n / total:.2f}%)" for s, n in sorted(last["statuses"].items())))
    print("  landmark paths: " + ", ".join(f"{p} {n} ({100 * n / total:.2f}%)" for p, n in last["paths"].most_common()))
    sample = sources[:: max(1, len(sources) // args.stage_sample)][: args.stage_sample]
    stages = stage_times(job, sample)
    print(
        f"  median ms per image by stage ({len(sample)} images, this process): "
        + ", ".join(f"{name} {ms:.2f}" for name, ms in stages.items())
        + f"; sum {sum(stages.values()):.2f}"
    )
    if args.landmark_check and not args.aligned:
        landmark_check(args.input, sources[:: max(1, len(sources) // args.landmark_check)][: args.landmark_check])
    return 0
