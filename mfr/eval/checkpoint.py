"""An mfr checkpoint as an embedder: loaded with weights-only unpickling, rebuilt from its hyper-parameters.

`python -m mfr.fit` saves plain containers as hyper-parameters (num_classes, model, head, optim,
image_size), so a checkpoint loads with `torch.load(weights_only=True)`: no code in the file runs.
`model.method` names the LightningModule to rebuild (mfr.methods: mfr, focusface, srt).
Anything else (a different framework's file, a truncated download, a non-checkpoint) is a
`CheckpointError` that says what the file is not.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import torch

from mfr.data.readers.io import file_stamp
from mfr.errors import ConfigError
from mfr.eval.embedding import is_masked_aware
from mfr.methods import module_class

REQUIRED_HPARAMS = ("num_classes", "model", "head", "optim")


class CheckpointError(ConfigError):
    """ckpt_path names a file that is not a loadable mfr checkpoint."""


def load_checkpoint(path: str | Path):
    """The trained module of an mfr checkpoint (the class its `model.method` names), in eval mode on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ckpt_path={path}: no such file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a non-checkpoint; all mean the same here
        first_line = next(iter(str(exc).strip().splitlines()), "")
        reason = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
        raise CheckpointError(
            f"ckpt_path={path}: not a PyTorch checkpoint that loads weights-only ({reason})"
        ) from None
    hparams = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(hparams, dict) or any(k not in hparams for k in REQUIRED_HPARAMS) or "state_dict" not in ckpt:
        raise CheckpointError(
            f"ckpt_path={path}: not an mfr checkpoint (expected 'state_dict' and 'hyper_parameters' with "
            f"{', '.join(REQUIRED_HPARAMS)}, as python -m mfr.fit writes)"
        )
    model = copy.deepcopy(hparams["model"])
    model["backbone"]["checkpoint"] = None  # the trunk's weights are in the state dict
    model["compile"] = False
    try:
        cls = module_class(model)
    except ConfigError as exc:
        raise CheckpointError(f"ckpt_path={path}: {exc}") from None
    module = cls(**{**hparams, "model": model})  # the method's own hyper-parameters (SRT's teacher) included
    state = {k.replace("._orig_mod", ""): v for k, v in ckpt["state_dict"].items()}  # from a torch.compile'd embedder
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"ckpt_path={path}: its weights do not fit the model its hyper-parameters describe "
            f"({len(missing)} missing, e.g. {missing[:2]}; {len(unexpected)} unexpected, e.g. {unexpected[:2]})"
        )
    return module.eval()


class ModuleEmbedder:
    """An mfr module's `embed` (flip TTA per `module.flip_test`) as an evaluation embedder.

    Runs on the module's device, in bf16 autocast on a GPU when `bf16`; the module is used as it
    is (not moved, not switched to eval), so the training callback can share it. A module with
    `masked_aware = True` (SRT) gets each image's mask flag: `module.embed(images, masked)`.
    """

    cpu_bound = False

    def __init__(self, module, bf16: bool | None = None, source: str = ""):
        self.module = module
        self.masked_aware = is_masked_aware(module)
        self.device = next(module.parameters()).device
        self.bf16 = self.device.type == "cuda" if bf16 is None else bf16
        self.image_size = int(module.hparams.image_size)
        stamp = f"{source}|flip={module.flip_test}|bf16={self.bf16}|size={self.image_size}"
        self.fingerprint = hashlib.sha1(stamp.encode()).hexdigest()

    @classmethod
    def from_checkpoint(cls, path: str | Path, flip: bool = True, device: str = "auto") -> ModuleEmbedder:
        module = load_checkpoint(path)
        module.flip_test = flip
        target = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        return cls(module.to(target), source=file_stamp(path))

    def prepare(self, image: torch.Tensor) -> tuple[torch.Tensor, str]:
        return image, ""

    @torch.no_grad()
    def embed(self, batch: torch.Tensor, masked: torch.Tensor | None = None) -> torch.Tensor:
        images = batch.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            if self.masked_aware:
                emb = self.module.embed(images, None if masked is None else masked.to(self.device))
            else:
                emb = self.module.embed(images)
        return emb.float().cpu()
