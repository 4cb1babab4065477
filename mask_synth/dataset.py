"""Identity-folder datasets on disk: list their images, read them safely, write outputs atomically.

A dataset is `<root>/<identity>/<image>`, where deeper folders are kept as they are. Sources are
named by their POSIX path relative to the root, which is also the key of every manifest record.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
# formats an output may keep; anything else is written as PNG
KEPT_EXTENSIONS = (".jpg", ".jpeg", ".png")


class UnreadableImageError(ValueError):
    """A file that should be an image could not be read; the message names the file and the cause."""

    def __init__(self, path: str | Path, cause: str):
        super().__init__(f"{path}: {cause}")
        self.cause = cause


def list_images(root: Path, exclude: Path | None = None) -> tuple[list[str], int]:
    """(sorted relative paths of the images under root, number of other files skipped).

    Hidden files and folders are ignored; `exclude` (e.g. an output folder inside root) is skipped.
    """
    root = Path(root)
    images, others = [], 0
    excluded = Path(exclude).resolve() if exclude is not None else None
    for folder, dirs, files in os.walk(root):
        if excluded is not None and Path(folder).resolve() == excluded:
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            if name.lower().endswith(IMAGE_EXTENSIONS):
                images.append(Path(folder, name).relative_to(root).as_posix())
            else:
                others += 1
    return sorted(images), others


def identity_of(source: str) -> str:
    """The identity of a source path: its first folder ("" for an image at the dataset's root)."""
    head, sep, _ = source.partition("/")
    return head if sep else ""


def decode_rgb(data: bytes | np.ndarray, name: str | Path) -> np.ndarray:
    """Encoded image bytes as HxWx3 uint8 RGB (grey and 16-bit images converted, alpha dropped)."""
    buffer = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if buffer.size == 0:
        raise UnreadableImageError(name, "empty file")
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None:
        raise UnreadableImageError(name, "not a decodable image (corrupt or unsupported format)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_rgb(path: Path) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB, or UnreadableImageError naming the file and the cause."""
    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError as error:
        raise UnreadableImageError(path, f"cannot read the file ({error.strerror or error})") from None
    return decode_rgb(data, path)


def output_name(source: str, image_format: str) -> str:
    """The relative path of an output image: the source's, with the extension `image_format` asks for.

    image_format: "same" keeps .jpg/.jpeg/.png (anything else becomes .png), or "jpg" / "png".
    """
    stem, ext = os.path.splitext(source)
    if image_format == "same":
        return source if ext.lower() in KEPT_EXTENSIONS else stem + ".png"
    return f"{stem}.{image_format}"


def encode(image: np.ndarray, name: str, quality: int = 95) -> bytes:
    """Encode an RGB (HxWx3) or single-channel image for the extension of `name`."""
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ext = os.path.splitext(name)[1].lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if ext in (".jpg", ".jpeg") else []
    ok, buffer = cv2.imencode(ext, pixels, params)
    if not ok:
        raise ValueError(f"could not encode {name} as {ext}")
    return buffer.tobytes()


def temporary_name(name: str) -> str:
    """A hidden name for writing file `name` atomically (beside it, then a rename), unique to this writer:
    a pid repeats across the nodes of a cluster sharing a filesystem, and writers sharing a temporary file
    would mix their bytes."""
    return f".{name}.{uuid.uuid4().hex}.tmp"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """The one way mfr and mask_synth write a file: the block writes to the yielded temporary path beside
    `path`, which then becomes `path` in one rename (or is removed if the block fails), so a reader sees
    the old file or the whole new one, never a part. The parent folder is made when missing."""
    folder, name = os.path.split(os.fspath(path))
    if not os.path.isdir(folder or "."):  # a stat per file; mkdir only the first time
        os.makedirs(folder, exist_ok=True)
    temporary = Path(folder or ".", temporary_name(name))
    try:
        yield temporary
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write `data` (a str as UTF-8) to `path` through `atomic_path`; returns `path` as a Path."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(path)
