"""IResNet, the face-recognition ResNet of insightface (the "IR" layout), registered with timm.

Each residual unit is BN-conv3x3-BN-PReLU-conv3x3(stride)-BN; the stem keeps full resolution and
four stride-2 stages take a 112x112 face to a 7x7x512 map. `forward_head` is the face output layer
(BN, dropout, flatten, linear, BN) when `num_classes` (the embedding size) is set.
`timm.create_model("iresnet50")` builds one after `import mfr.models`.
"""

from __future__ import annotations

import torch
from timm.models import register_model
from torch import nn

from mfr.errors import ConfigError

STAGE_WIDTHS = (64, 128, 256, 512)


class IBasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(inplanes, eps=1e-5),
            nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False),
            nn.BatchNorm2d(planes, eps=1e-5),
            nn.PReLU(planes),
            nn.Conv2d(planes, planes, 3, stride, 1, bias=False),
            nn.BatchNorm2d(planes, eps=1e-5),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and inplanes == planes
            else nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes, eps=1e-5))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class IResNet(nn.Module):
    def __init__(
        self,
        layers: tuple[int, int, int, int],
        num_classes: int = 512,
        in_chans: int = 3,
        drop_rate: float = 0.0,
        feature_size: int = 7,
        global_pool: str = "",
        output_stride: int = 16,
    ):
        super().__init__()
        if output_stride != 16:
            raise ConfigError(f"model.backbone.output_stride={output_stride}: iresnet's is fixed; allowed: 16, null")
        if global_pool:
            raise ValueError("iresnet ends on a spatial map; it takes no global_pool")
        self.num_features = STAGE_WIDTHS[-1]
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64, eps=1e-5), nn.PReLU(64)
        )
        stages, inplanes = [], 64
        for depth, width in zip(layers, STAGE_WIDTHS):
            blocks = [IBasicBlock(inplanes, width, stride=2)] + [IBasicBlock(width, width) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            inplanes = width
        self.stages = nn.Sequential(*stages)
        self.bn2 = nn.BatchNorm2d(self.num_features, eps=1e-5)
        self.drop_rate, self.feature_size = drop_rate, feature_size
        self.reset_classifier(num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, 0.1)

    def reset_classifier(self, num_classes: int, global_pool: str = "") -> None:
        self.num_classes = num_classes
        if num_classes:
            flat = self.num_features * self.feature_size**2
            self.head = nn.Sequential(
                nn.Dropout(self.drop_rate), nn.Linear(flat, num_classes), nn.BatchNorm1d(num_classes, eps=1e-5)
            )
        else:
            self.head = nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.stages(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(x, 1)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _create(layers: tuple[int, int, int, int], pretrained: bool, **kwargs) -> IResNet:
    if pretrained:
        raise ValueError("no pretrained iresnet weights are bundled; load your own with checkpoint_path=")
    if kwargs.pop("drop_path_rate", 0.0):
        raise ValueError("iresnet has no stochastic depth: leave drop_path_rate at 0")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(key, None)
    return IResNet(layers, **kwargs)


@register_model
def iresnet18(pretrained: bool = False, **kwargs) -> IResNet:
    return _create((2, 2, 2, 2), pretrained, **kwargs)


@register_model
def iresnet34(pretrained: bool = False, **kwargs) -> IResNet:
    return _create((3, 4, 6, 3), pretrained, **kwargs)


@register_model
def iresnet50(pretrained: bool = False, **kwargs) -> IResNet:
    return _create((3, 4, 14, 3), pretrained, **kwargs)


@register_model
def iresnet100(pretrained: bool = False, **kwargs) -> IResNet:
    return _create((3, 13, 30, 3), pretrained, **kwargs)
