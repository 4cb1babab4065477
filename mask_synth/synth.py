"""The mask_synth job: one source image in; its masked twin, mask map and manifest record out.

Each image draws its mask from its own seed, derived from the run's seed and the image's path, so
outputs do not depend on the order, the number of workers or the shard that processed them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from mask_synth.dataset import UnreadableImageError, encode, identity_of, output_name, read_rgb, write_atomic
from mask_synth.landmarks import (
    FALLBACK_SOURCES,
    GIVEN,
    TEMPLATE,
    TIGHT_CROP_BOX,
    LandmarkFinder,
    Landmarks,
    NoFaceError,
)
from mask_synth.render import render_mask
from mask_synth.runner import FAILED, iter_records
from mask_synth.specs import DEFAULT_MIX, sample_spec
from mask_synth.template import TEMPLATE_SIZE, template_landmarks

MASKED, FALLBACK = "masked", "fallback"
STATUSES = (MASKED, FALLBACK, FAILED)
MASKED_DIR, MAP_DIR, ORIGINAL_DIR = "masked", "mask_map", "original"


def image_seed(run_seed: int, source: str) -> int:
    """An image's own seed from the run's seed and its path: independent of order, workers and shards."""
    digest = hashlib.sha256(f"{run_seed}/{source}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


class AlignedLandmarks:
    """Landmarks that mfr.align stored for the images of an aligned dataset, by their path in it.

    Kept as one float32 array (68 x 2 x 4 bytes an image) so that a large dataset's landmarks fit in
    every worker, and a fork shares them.
    """

    def __init__(self, input_dir: Path):
        rows, points = {}, []
        for record in iter_records(input_dir):
            if record.get("status") != FAILED and record.get("aligned") and record.get("landmarks"):
                rows[record["aligned"]] = len(points)
                points.append(np.asarray(record["landmarks"], np.float32))
        self.rows = rows
        self.points = np.stack(points) if points else np.zeros((0, 68, 2), np.float32)

    def get(self, source: str) -> np.ndarray | None:
        row = self.rows.get(source)
        return None if row is None else self.points[row]


@dataclass
class MaskJob:
    """Options of a mask_synth run; calling it on a source path masks that image (see runner.Job)."""

    input_dir: str
    output_dir: str
    seed: int = 0
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    palette: str | list = "natural"
    textures: list[str] | None = None
    aligned: bool = False
    landmarks: str = "tight"  # LandmarkFinder strategy for unaligned inputs: tight or detect ...
    prior_box: tuple = TIGHT_CROP_BOX  # ... and its face-box prior (see mask_synth.cli.resolve_landmarks)
    keep_original: bool = False
    match_camera: bool = True  # blur and grain each mask like its photo
    image_format: str = "same"
    quality: int = 95
    save_landmarks: bool = False
    name = "mask_synth"

    def config(self) -> dict:
        """The options that shape the outputs: a resumed run must use the same ones."""
        keys = (
            "seed",
            "mix",
            "palette",
            "textures",
            "aligned",
            "landmarks",
            "prior_box",
            "keep_original",
            "match_camera",
            "image_format",
            "quality",
        )
        return {k: getattr(self, k) for k in keys}

    def outputs(self, source: str) -> list[str]:
        """The masked twin and the mask map (and the original's copy) of a source, relative to OUTPUT."""
        names = [f"{MASKED_DIR}/{output_name(source, self.image_format)}", f"{MAP_DIR}/{output_name(source, 'png')}"]
        return names + ([f"{ORIGINAL_DIR}/{source}"] if self.keep_original else [])

    def setup(self) -> None:
        self._finder = None if self.aligned else LandmarkFinder(self.landmarks, self.prior_box)
        self._given = AlignedLandmarks(Path(self.input_dir)) if self.aligned else None

    def find_landmarks(self, source: str, image: np.ndarray) -> Landmarks:
        if not self.aligned:
            return self._finder(image)
        given = self._given.get(source)
        if given is not None:
            return Landmarks(given, GIVEN)
        h, w = image.shape[:2]
        return Landmarks(template_landmarks() * np.float32([w / TEMPLATE_SIZE, h / TEMPLATE_SIZE]), TEMPLATE)

    def __call__(self, source: str) -> dict:
        record = {
            "source": source,
            "identity": identity_of(source),
            "status": FAILED,
            "reason": None,
            "landmark_source": None,
            "spec": None,
            "seed": image_seed(self.seed, source),
            "masked": None,
            "mask_map": None,
            "original": None,
        }
        path = Path(self.input_dir, source)
        try:
            image = read_rgb(path)
        except UnreadableImageError as error:
            return {**record, "reason": f"unreadable: {error.cause}"}
        try:
            found = self.find_landmarks(source, image)
        except NoFaceError as error:
            return {**record, "reason": str(error)}
        rng = np.random.default_rng(record["seed"])
        spec = replace(
            sample_spec(rng, kinds=self.mix, palette=self.palette, textures=self.textures),
            match_camera=self.match_camera,
        )
        result = render_mask(image, found.points, spec, seed=record["seed"])

        out = Path(self.output_dir)
        masked, mask_map, *copy = self.outputs(source)
        write_atomic(out / masked, encode(result.image, masked, self.quality))
        write_atomic(out / mask_map, encode(result.mask, mask_map))
        original = copy[0] if copy else None
        if original:
            write_atomic(out / original, path.read_bytes())
        record.update(
            status=FALLBACK if found.source in FALLBACK_SOURCES else MASKED,
            landmark_source=found.source,
            spec=spec.to_dict(),
            masked=masked,
            mask_map=mask_map,
            original=original,
        )
        if self.save_landmarks:
            record["landmarks"] = np.round(found.points, 2).tolist()
        return record
