"""`python -m mask_synth INPUT OUTPUT` masks a dataset; `... preview` draws a contact sheet; `... bench` times it."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "preview":
        from mask_synth.preview import main as preview

        return preview(argv[1:])
    if argv and argv[0] == "bench":
        from mask_synth.bench import main as bench

        return bench(argv[1:])
    from mask_synth.cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
