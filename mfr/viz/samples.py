"""A few faces of each kind a figure compares, drawn from a DataModule: unmasked, their synthetic masked twins,
and real masked faces (the target domain the model must adapt to)."""

from __future__ import annotations

import numpy as np

from mfr.data.sets import IndexedImages

UNMASKED, SYNTHETIC, REAL = "unmasked", "synthetic masked", "real masked"


def pick_faces(images, count: int, image_size: int, where: np.ndarray | None = None) -> np.ndarray:
    """`count` images spread evenly over the set (so over identities), as (n, S, S, 3) uint8."""
    index = np.arange(len(images)) if where is None else np.flatnonzero(where)
    index = index[np.linspace(0, len(index) - 1, min(count, len(index))).astype(int)] if len(index) else index
    view = IndexedImages(images, image_size)
    return (
        np.stack([view[i]["image"].numpy().transpose(1, 2, 0) for i in index])
        if len(index)
        else np.zeros((0, image_size, image_size, 3), np.uint8)
    )


def face_samples(datamodule, count: int = 4) -> dict[str, np.ndarray]:
    """{kind: (n, S, S, 3) uint8}. Twins pair up with the unmasked faces image for image; real masked faces are
    the masked views of the first validation set that labels them, else the masked target images."""
    datamodule.setup("fit")
    size, source = datamodule.image_size, datamodule.source
    faces = {UNMASKED: pick_faces(source.images, count, size)}
    if source.masked is not None:
        faces[SYNTHETIC] = pick_faces(source.masked, count, size)
    labelled = next((v for v in datamodule.val_sets if "masked" in v.meta), None)
    if labelled is not None:
        faces[REAL] = pick_faces(labelled.images, count, size, np.asarray(labelled.meta["masked"]) == 1)
    elif datamodule.target is not None:
        faces[REAL] = pick_faces(datamodule.target.images, count, size, datamodule.target.mask_labels == 1)
    return {kind: images for kind, images in faces.items() if len(images)}
