"""`python -m mfr.audit DATASET`: what a researcher must know about a face dataset before training on it.

Photos per identity, near-duplicate photos within and across identities (the merge candidates), image
sizes and, for a set mfr.align wrote, the size of the source faces; see `mfr.data.audit`. Writes every
figure, group and key to audit.json and prints a short summary.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mfr.cli import ArgumentParser, one_line_errors
from mfr.data.audit import SMALL, THRESHOLD, audit, write_audit
from mfr.data.readers.sources import open_faces

SHOWN = 10  # names, keys and files listed per line of the summary


def listed(items: list[str]) -> str:
    """The first few items, and how many more."""
    if not items:
        return "none"
    return ", ".join(items[:SHOWN]) + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def counted(n: int, thing: str) -> str:
    return f"{n:,} {thing}" + ("" if n == 1 else "s")


def percent(share: float) -> str:
    return f"{100 * share:.3g}%"


def side_figures(figures: dict) -> str:
    smallest, under = figures["smallest"], figures["under"]
    return (
        f"median side {figures['median_side']:g} px, smallest {smallest['side']:g} px ({smallest['key']}); "
        f"{under['count']:,} ({percent(under['share'])}) under {under['side']} px"
    )


def summary(report: dict) -> str:
    """The audit in a dozen lines; audit.json holds every group and key."""
    people, sizes, duplicates, seconds = report["identities"], report["sizes"], report["duplicates"], report["seconds"]
    lines = [
        f"{report['root']}: {report['images']:,} images of {people['count']:,} identities, audited in {seconds['total']:.1f}s "
        f"(read {seconds['read']:.1f}s with {counted(seconds['threads'], 'thread')}, compared {seconds['compare']:.1f}s)"
    ]
    if report["left_out_twins"]:
        lines.append(f"  ({counted(report['left_out_twins'], 'masked twin')} left out: synthetic copies, not photos)")
    files = [f"{u['path']} ({u['reason']})" for u in report["unreadable"]]
    lines.append(f"  unreadable: {len(files):,}" + (f": {listed(files)}" if files else " (every image read)"))
    lines += [
        f"  photos per identity: {people['min']} to {people['max']}, median {people['median']:g}, mean {people['mean']:g}; "
        f"the 10 largest identities hold {percent(people['largest_10_share'])} of the photos",
        "    " + " | ".join(f"{span}: {n}" for span, n in people["histogram"].items()),
        "    largest: " + ", ".join(f"{name} {n}" for name, n in people["largest"][:5]),
        f"    fewer than 2 photos (no genuine pair): {listed(people['under_two'])}",
        f"    names alike (one person spelt two ways? check): {listed([' = '.join(pair) for pair in people['similar_names']])}",
    ]
    (h0, h1), (w0, w1) = sizes["heights"], sizes["widths"]
    shape = (
        f"all {h0}x{w0}"
        if (h0, w0) == (h1, w1)
        else f"heights {h0} to {h1}, widths {w0} to {w1}; {side_figures(sizes)}"
    )
    lines.append(f"  image sizes: {shape}")
    faces = report["source_faces"]
    if faces:
        lines.append(
            f"  source faces ({Path(faces['manifest']).name}: {faces['faces']:,} aligned, {faces['not_aligned']:,} "
            f"sources not): each aligned from a square of {side_figures(faces)} (upsampled)"
        )
    pairs, side = duplicates["pairs"], duplicates["thumbnail"]
    photos = sum(len(group["keys"]) for group in duplicates["within"])
    merges = [f"{' = '.join(m['identities'])} ({m['shared_photos']})" for m in duplicates["merge_candidates"]]
    lines += [
        f"  near-duplicates ({side}x{side} grey thumbnails correlated above {duplicates['threshold']:g}, or the same pixels):",
        f"    within identities: {counted(pairs['within'], 'pair')} ({pairs['exact_within']:,} exact) in "
        f"{counted(len(duplicates['within']), 'group')} of {photos:,} photos (easy genuine pairs, over-weighted photos)",
        f"    across identities: {counted(pairs['across'], 'pair')} ({pairs['exact_across']:,} exact) in "
        f"{counted(len(duplicates['across']), 'group')}; identities sharing photos (one person under two names, or a mislabel): "
        + listed(merges),
    ]
    if duplicates["blank"]:
        lines.append(
            f"    {counted(duplicates['blank'], 'blank image')} (no pattern at {side}x{side}) compared by their pixels only"
        )
    return "\n".join(lines)


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="python -m mfr.audit",
        description="What to know about a face dataset before training on it: photos per identity, near-duplicate photos "
        "within and across identities (merge candidates), image and source-face sizes.",
        epilog="DATASET: any layout mfr reads (identity folders, RMFD, insightface RecordIO, an mfr pack). Keys in audit.json "
        "are the images' paths relative to DATASET; mfr.data.audit.photo_groups turns the groups into photo ids.",
    )
    parser.add_argument("dataset", type=Path, help="dataset folder (or .rec file)")
    parser.add_argument(
        "--out", type=Path, default=Path("audit.json"), help="where to write the audit (default ./audit.json)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=THRESHOLD,
        help=f"thumbnail correlation above which two photos are near-duplicates (default {THRESHOLD})",
    )
    parser.add_argument(
        "--small", type=int, default=SMALL, help=f"a side under this many pixels is small (default {SMALL})"
    )
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="decoding threads (default: the CPU count)"
    )
    args = parser.parse_args(argv)
    if not 0 < args.threshold <= 1:
        parser.error(f"--threshold {args.threshold}: a correlation, in (0, 1]")
    report = audit(open_faces(args.dataset), args.dataset, args.threshold, args.small, args.threads)
    write_audit(report, args.out)
    print(summary(report))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
