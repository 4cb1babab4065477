"""The trunk: any timm model by name, plus a neck that brings its last feature map to C channels.

At 112x112 a ResNet-50 built with output_stride=16 ends on a 7x7 map; the neck's 1x1 conv takes its
2048 channels to the 512 the refinement layer expects (the paper's 7x7x512). Nothing is downloaded:
weights come only from a local file given as `checkpoint`.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import timm
import torch
from torch import nn

import mfr.models.iresnet  # noqa: F401  (registers iresnet* in timm's registry)
from mfr.config import BACKBONE, check_file
from mfr.errors import ConfigError


def check_backbone_name(name: str, key: str = "model.backbone.name") -> None:
    """A name in timm's registry (iresnet* included), or a ConfigError with the closest names."""
    if timm.is_model(name):
        return
    close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ConfigError(
        f"{key}={name!r} is not a timm model; allowed: any name in timm.list_models() "
        f"(e.g. resnet50, iresnet50, resnet18).{hint}"
    )


class Backbone(nn.Module):
    """images (B,3,H,W) -> feature map (B, channels, h, w)."""

    def __init__(
        self,
        name: str = "resnet50",
        channels: int = 512,
        output_stride: int | None = 16,
        checkpoint: str | None = None,
        pretrained: bool = False,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        check_backbone_name(name)
        BACKBONE["pretrained"].check("model.backbone.pretrained", pretrained)  # nothing is ever downloaded
        kwargs = {"output_stride": output_stride} if output_stride not in (None, 32) else {}
        if drop_path_rate:
            kwargs["drop_path_rate"] = drop_path_rate
        self.trunk = timm.create_model(name, pretrained=False, num_classes=0, global_pool="", **kwargs)
        if checkpoint:
            self._load(checkpoint)
        trunk_channels = self.trunk.num_features
        self.neck = (
            nn.Identity()
            if trunk_channels == channels
            else nn.Sequential(nn.Conv2d(trunk_channels, channels, 1, bias=False), nn.BatchNorm2d(channels))
        )
        self.channels = channels

    def _load(self, checkpoint: str) -> None:
        check_file("model.backbone.checkpoint", checkpoint, "a weights file of the backbone's trunk")
        state = torch.load(Path(checkpoint), map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        missing, unexpected = self.trunk.load_state_dict(state, strict=False)
        if len(missing) == len(self.trunk.state_dict()):
            raise ConfigError(f"{checkpoint}: none of its tensors match a {type(self.trunk).__name__}")

    @torch.no_grad()
    def map_size(self, image_size: int) -> tuple[int, int]:
        """(h, w) of the feature map this backbone gives at image_size x image_size (one image, in eval mode)."""
        was_training, device = self.training, next(self.parameters()).device
        fmap = self.eval()(torch.zeros(1, 3, image_size, image_size, device=device))
        self.train(was_training)
        return int(fmap.shape[2]), int(fmap.shape[3])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.neck(self.trunk.forward_features(images))
