"""`python -m mfr.pack SOURCE OUT`: decode a dataset once into memory-mapped shards (see mfr.data.readers.packed).

SOURCE is any layout mfr reads (identity folders, RMFD, insightface RecordIO, with --twins the
output of mask_synth); point a data config's root at OUT afterwards and training reads the pack.
`--to folders` instead writes a RecordIO file's images as identity folders (the bytes as stored),
the input `python -m mask_synth` takes to make MCASIA twins of faces_webface_112x112.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from mfr.cli import ArgumentParser, one_line_errors
from mfr.data.readers.packed import read_pack, write_pack
from mfr.data.readers.recordio import extract
from mfr.data.readers.sources import open_faces


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m mfr.pack", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="dataset root: identity folders, RMFD, a .rec (or a folder with train.rec)")
    parser.add_argument("out", help="output folder (a stopped run resumes when given the same options)")
    parser.add_argument("--twins", help="mask_synth output for SOURCE: its masked twins are packed and linked")
    parser.add_argument("--size", type=int, default=112, help="image side in pixels (default 112; others are resized)")
    parser.add_argument(
        "--shard-size", type=int, default=16384, help="images per shard file (default 16384, 600 MB at 112 px)"
    )
    parser.add_argument("--threads", type=int, default=0, help="decoding threads (default: one per core)")
    parser.add_argument("--to", choices=("pack", "folders"), default="pack", help="folders: unpack a RecordIO file")
    return parser


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.time()
    if args.to == "folders":
        count = extract(args.source, args.out)
        print(f"wrote {count} images as identity folders under {args.out} in {time.time() - started:.0f}s")
        return 0
    table = open_faces(args.source, args.twins)
    threads = args.threads or os.cpu_count() or 1
    out = write_pack(table, args.out, args.size, args.shard_size, threads, source=os.path.abspath(args.source))
    packed = read_pack(out)
    print(
        f"packed {len(packed)} of {len(table)} images ({len(table.names)} identities) into {out} in {time.time() - started:.0f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
