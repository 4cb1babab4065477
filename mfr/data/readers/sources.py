"""`open_faces(root)`: any dataset layout mfr reads, recognised from what is at `root`.

A pack (pack.json), insightface RecordIO (a .rec, or a folder with train.rec), RMFD (its two
AFDB_* folders) or identity folders; `twins` adds mask_synth's masked twins (MCASIA). Every config
points at data the same way, so switching from JPEG folders to a pack is a change of path.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from mfr.data.readers.folders import IDENTITY_FOLDERS, RMFD_LAYOUT, identity_folders, is_rmfd, read_rmfd
from mfr.data.readers.io import require
from mfr.data.readers.packed import PACK_LAYOUT, is_pack, read_pack
from mfr.data.readers.recordio import RECORDIO_LAYOUT, find_recordio, recordio_faces
from mfr.data.readers.table import FaceTable
from mfr.data.readers.twins import attach_twins

LAYOUTS = "\n".join(
    [
        "  one of:",
        *(textwrap.indent(layout, "  ") for layout in (IDENTITY_FOLDERS, RMFD_LAYOUT, RECORDIO_LAYOUT, PACK_LAYOUT)),
    ]
)


def open_faces(root: str | Path, twins: str | Path | None = None) -> FaceTable:
    """The FaceTable of the dataset at `root`, with the masked twins in `twins` attached if given."""
    root = Path(root).expanduser()
    if root.suffix != ".rec":
        require(root, LAYOUTS)
    if is_pack(root):
        table = read_pack(root)
    elif find_recordio(root):
        table = recordio_faces(root)
    elif is_rmfd(root):
        table = read_rmfd(root)
    else:
        table = identity_folders(root)
    return attach_twins(table, twins) if twins else table
