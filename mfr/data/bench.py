"""`python -m mfr.data.bench`: training-loader throughput, packed data vs JPEG folders, 1 to N workers.

Runs the source loader exactly as training builds it (RealDataModule: face + masked twin + identity
per sample, the configured augmentation, uint8 batches) and prints, for each format, augmentation
and worker count: samples/s and images/s (a sample is two 112x112 images), and the CPU time spent
per image in the main process and the workers together. Images per CPU-second is the per-core
figure: it does not depend on how many cores the machine has or how busy they are, so it tells
what N cores can feed (`projected`: per-core figure x the cores given to loading; linear scaling
holds while workers <= physical cores and memory bandwidth is not the limit, so check it with
--workers on the machine itself).

Without --source it makes its data once under --work: procedurally drawn demo faces (112x112,
JPEG quality 95, about 6 KB each, like aligned CASIA crops) with masked twins and a manifest, and
their pack. With --source/--twins it measures your own data (packed first under --work).
"""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path

import cv2
import torch

from mask_synth.dataset import encode, write_atomic
from mfr.cli import ArgumentParser, one_line_errors
from mfr.data.readers.packed import is_pack, write_pack
from mfr.data.readers.sources import open_faces
from mfr.data.real import RealDataModule

AUGMENTS = {
    "none": {"flip": 0.0},
    "flip": {"flip": 0.5},
    "train": {"flip": 0.5, "color": 0.2, "blur": 0.1, "low_res": 0.1, "crop": 0.2},  # configs/data/rmfd.yaml
}


def make_demo_data(work: Path, identities: int, per_identity: int, workers: int) -> tuple[Path, Path]:
    """Demo faces with twins as identity folders of JPEGs plus a mask_synth-style manifest (made once)."""
    from mfr.data.demo.datamodule import render_group

    source, twins = work / "jpeg", work / "twins"
    if (twins / "manifest.jsonl").exists():
        return source, twins
    plain, masked, _, labels = render_group(0, 0, identities, per_identity, 112, "synthetic", workers=workers)
    records = []
    for n, (face, twin, label) in enumerate(zip(plain, masked, labels)):
        key = f"{label:05d}/{n:06d}.jpg"
        for path, image in ((source / key, face), (twins / "masked" / key, twin)):
            write_atomic(path, encode(image, path.name, quality=95))
        records.append(json.dumps({"source": key, "status": "masked", "masked": f"masked/{key}", "mask_map": None}))
    write_atomic(twins / "manifest.jsonl", "\n".join(records) + "\n")
    return source, twins


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of running processes, from /proc (0 where unavailable)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def measure(root: Path, twins: Path | None, augment: str, workers: int, batch_size: int, batches: int) -> dict:
    """Samples/s and CPU seconds per image of the training source loader over `batches` batches."""
    dm = RealDataModule(
        source=functools.partial(open_faces, root=root, twins=twins),
        use_target=False,
        image_size=112,
        batch_size=batch_size,
        num_workers=workers,
        pin_memory=False,
        augment=AUGMENTS[augment],
        seed=0,
    )
    dm.setup("fit")
    loader = dm.train_dataloader()["source"]
    needed = batches + 2 * max(1, workers)
    if len(loader) < needed:
        raise SystemExit(
            f"{root} gives {len(loader)} batches of {batch_size}; the speed test needs {needed}: use more images"
        )
    iterator = iter(loader)
    for _ in range(2 * max(1, workers)):  # warm-up: start the workers and fill their prefetch queues
        next(iterator)
    pids = [w.pid for w in getattr(iterator, "_workers", [])]
    wall, main_cpu, worker_cpu = time.perf_counter(), time.process_time(), cpu_seconds(pids)
    samples = 0
    for _ in range(batches):
        samples += len(next(iterator)["identity"])
    wall = time.perf_counter() - wall
    cpu = time.process_time() - main_cpu + cpu_seconds(pids) - worker_cpu
    del iterator
    images = 2 * samples  # a face and its masked twin
    return {
        "samples_per_s": samples / wall,
        "images_per_s": images / wall,
        "images_per_cpu_s": images / cpu if cpu else None,
    }


@one_line_errors()
def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(prog="python -m mfr.data.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, help="your dataset root (default: generated demo faces)")
    parser.add_argument("--twins", type=Path, help="mask_synth output for --source")
    parser.add_argument("--work", type=Path, default=Path("/tmp/mfr-bench"), help="where generated data and packs go")
    parser.add_argument("--identities", type=int, default=128, help="generated identities (x --per-identity images)")
    parser.add_argument("--per-identity", type=int, default=24)
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[0, 2], help="worker counts to measure (0: one process)"
    )
    parser.add_argument("--augment", nargs="+", choices=sorted(AUGMENTS), default=["train", "none"])
    parser.add_argument("--formats", nargs="+", choices=("packed", "jpeg"), default=["packed", "jpeg"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=10, help="timed batches per measurement")
    parser.add_argument(
        "--cores", type=int, default=16, help="cores of the machine to project to (one is left to training)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # one thread each, as in DataLoader workers: parallelism comes from processes
    torch.set_num_threads(1)

    args.work.mkdir(parents=True, exist_ok=True)
    if args.source:
        jpeg, twins = args.source, args.twins
    else:
        jpeg, twins = make_demo_data(args.work, args.identities, args.per_identity, max(1, max(args.workers)))
    pack = jpeg if is_pack(jpeg) else args.work / "pack"
    if "packed" in args.formats and not is_pack(jpeg) and not (pack / "pack.json").exists():
        write_pack(open_faces(jpeg, twins), pack, 112, threads=os.cpu_count() or 1, source=str(jpeg))
    roots = {"packed": (pack, None), "jpeg": (jpeg, twins)}

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"loader throughput, batch {args.batch_size}, 112x112, {cores} cores here (load average {os.getloadavg()[0]:.1f})"
    )
    print(
        f"{'format':<7} {'augment':<6} {'workers':>7} {'samples/s':>10} {'images/s':>9} {'img/CPU-s':>10} {f'projected {args.cores} cores':>19}"
    )
    rows = []
    for fmt in args.formats:
        for augment in args.augment:
            for workers in args.workers:
                row = {
                    "format": fmt,
                    "augment": augment,
                    "workers": workers,
                    **measure(*roots[fmt], augment, workers, args.batch_size, args.batches),
                }
                per_core = row["images_per_cpu_s"]
                row["projected_images_per_s"] = per_core * (args.cores - 1) if per_core else None
                rows.append(row)
                print(
                    f"{fmt:<7} {augment:<6} {workers:>7} {row['samples_per_s']:>10.0f} {row['images_per_s']:>9.0f} "
                    f"{per_core or float('nan'):>10.0f} {row['projected_images_per_s'] or float('nan'):>19.0f}",
                    flush=True,
                )
    print(
        "images/s counts both images of a sample (face + masked twin); img/CPU-s is per core; projected = "
        f"img/CPU-s x {args.cores - 1} cores (one left to the training loop), assuming linear scaling"
    )
    if args.json:
        write_atomic(args.json, json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
