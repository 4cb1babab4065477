"""What to draw: `MaskSpec` (type, colours, texture) and seeded sampling of specs from palettes.

A spec is everything about a mask that a user may want to choose or record; the seed passed to
`render_mask` fixes the rest (pleat spacing, pattern offsets, strap colours, noise), so a spec and a
seed reproduce a mask exactly. Natural palettes hold colours each type is really sold in.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from mfr.errors import ConfigError

RGB = tuple[int, int, int]

MASK_TYPES = ("surgical", "n95", "kn95", "cloth", "respirator")
TEXTURES = ("plain", "stripes", "checks", "dots", "floral", "camo")

# How often each type turns up when nothing is asked for: the mix of masks seen in public in 2020-22.
DEFAULT_MIX = {"surgical": 0.4, "kn95": 0.2, "n95": 0.12, "cloth": 0.23, "respirator": 0.05}

NATURAL_COLOURS: dict[str, list[tuple[RGB, float]]] = {
    "surgical": [
        ((168, 204, 228), 0.45),
        ((236, 238, 240), 0.2),
        ((172, 214, 200), 0.08),
        ((34, 34, 38), 0.12),
        ((238, 190, 205), 0.08),
        ((198, 190, 228), 0.07),
    ],
    "n95": [((238, 238, 232), 0.55), ((224, 220, 206), 0.25), ((200, 201, 200), 0.1), ((186, 204, 222), 0.1)],
    "kn95": [
        ((238, 238, 236), 0.45),
        ((30, 30, 33), 0.25),
        ((150, 150, 156), 0.1),
        ((236, 186, 196), 0.08),
        ((40, 50, 82), 0.06),
        ((176, 200, 226), 0.06),
    ],
    "cloth": [
        ((30, 32, 40), 0.14),
        ((38, 52, 92), 0.12),
        ((128, 128, 132), 0.1),
        ((150, 30, 40), 0.07),
        ((96, 32, 48), 0.06),
        ((96, 104, 62), 0.06),
        ((206, 190, 160), 0.07),
        ((70, 100, 150), 0.08),
        ((230, 170, 190), 0.06),
        ((210, 160, 50), 0.05),
        ((30, 120, 120), 0.05),
        ((236, 234, 228), 0.05),
        ((96, 60, 130), 0.05),
        ((110, 72, 48), 0.04),
    ],
    "respirator": [
        ((112, 114, 120), 0.45),
        ((60, 62, 66), 0.2),
        ((30, 30, 32), 0.15),
        ((90, 105, 132), 0.1),
        ((112, 92, 150), 0.1),
    ],
}
# Second colours for patterns: light and dark neutrals plus a few brights.
PATTERN_COLOURS: list[RGB] = [
    (240, 240, 236),
    (24, 24, 28),
    (200, 40, 50),
    (240, 200, 60),
    (60, 110, 190),
    (80, 150, 90),
    (240, 150, 180),
    (250, 130, 40),
]
NATURAL_TEXTURES: dict[str, dict[str, float]] = {
    "surgical": {"plain": 0.9, "dots": 0.03, "floral": 0.04, "stripes": 0.03},
    "n95": {"plain": 1.0},
    "kn95": {"plain": 0.92, "camo": 0.04, "floral": 0.04},
    "cloth": {"plain": 0.2, "stripes": 0.2, "checks": 0.18, "dots": 0.15, "floral": 0.15, "camo": 0.12},
    "respirator": {"plain": 1.0},
}


def _rgb(colour, name: str) -> RGB:
    values = tuple(int(c) for c in colour)
    if len(values) != 3 or not all(0 <= c <= 255 for c in values):
        raise ValueError(f"MaskSpec.{name} must be three integers 0-255, got {colour!r}")
    return values


@dataclass(frozen=True)
class MaskSpec:
    """What to draw. JSON-serialisable via `to_dict`.

    pattern_color is the second colour of stripes, checks, dots and prints (None: a contrasting
    shade of `color`); match_camera blurs and grains the mask like the photo it is drawn on.
    """

    kind: str = "surgical"
    color: RGB = (225, 232, 236)
    texture: str = "plain"
    pattern_color: RGB | None = None
    match_camera: bool = True

    def __post_init__(self):
        if self.kind not in MASK_TYPES:
            raise ValueError(f"unknown mask type {self.kind!r}; choose one of {', '.join(MASK_TYPES)}")
        if self.texture not in TEXTURES:
            raise ValueError(f"unknown texture {self.texture!r}; choose one of {', '.join(TEXTURES)}")
        object.__setattr__(self, "color", _rgb(self.color, "color"))
        if self.pattern_color is not None:
            object.__setattr__(self, "pattern_color", _rgb(self.pattern_color, "pattern_color"))

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def second_color(self) -> RGB:
        """The pattern colour, or a contrasting shade of the main colour when none is given."""
        if self.pattern_color is not None:
            return self.pattern_color
        lum = sum(self.color) / 3
        return (
            tuple(int(c * 0.45) for c in self.color)
            if lum > 110
            else tuple(int(c + (255 - c) * 0.7) for c in self.color)
        )


def _choose(rng: np.random.Generator, weighted: Mapping | Sequence):
    """One item of (item, weight) pairs or an item -> weight mapping, drawn in proportion to the weights."""
    items = list(weighted.items()) if isinstance(weighted, Mapping) else list(weighted)
    cumulative = list(itertools.accumulate(w for _, w in items))
    return items[min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(items) - 1)][0]


def sample_spec(
    rng: np.random.Generator,
    kinds: Sequence[str] | Mapping[str, float] = DEFAULT_MIX,
    weights: Sequence[float] | None = None,
    palette: str | Sequence[RGB] = "natural",
    textures: Sequence[str] | None = None,
) -> MaskSpec:
    """Draw a spec: a type (`kinds` with `weights`, or a kind -> weight mapping), then its colours and texture.

    palette: "natural" (colours each type is sold in, jittered), "random" (any RGB) or a list of
    colours to pick from. textures: the textures to pick from uniformly (default: per type, natural).
    """
    if isinstance(kinds, Mapping):
        mix = dict(kinds)
    else:
        mix = dict(zip(kinds, weights if weights is not None else [1.0] * len(kinds)))
    kind = _choose(rng, mix)
    if palette == "natural":
        base = np.array(_choose(rng, NATURAL_COLOURS[kind]), np.float64)
        color = np.clip(base + rng.standard_normal(3) * 7, 0, 255)
        pattern = PATTERN_COLOURS[int(rng.integers(len(PATTERN_COLOURS)))]
        if np.abs(np.array(pattern) - color).sum() < 150:  # too close to be seen: use a contrasting shade
            pattern = None
    elif palette == "random":
        color, pattern = rng.integers(0, 256, 3), tuple(rng.integers(0, 256, 3))
    else:
        colours = list(palette)
        color = colours[int(rng.integers(len(colours)))]
        pattern = colours[int(rng.integers(len(colours)))] if len(colours) > 1 else None
    texture = _choose(rng, NATURAL_TEXTURES[kind]) if textures is None else textures[int(rng.integers(len(textures)))]
    return MaskSpec(kind=kind, color=tuple(int(c) for c in color), texture=texture, pattern_color=pattern)


def parse_mix(text: str) -> dict[str, float]:
    """`--types` on the command line: "mix" (DEFAULT_MIX), "random" (all types alike), a type, or "kind=w,kind=w"."""
    if text == "mix":
        return dict(DEFAULT_MIX)
    if text == "random":
        return {k: 1.0 for k in MASK_TYPES}
    mix = {}
    for item in text.split(","):
        kind, _, weight = item.partition("=")
        kind = kind.strip()
        if kind not in MASK_TYPES:
            raise ConfigError(
                f"--types: unknown mask type {kind!r}; allowed: mix, random, {', '.join(MASK_TYPES)} or kind=weight,..."
            )
        try:
            mix[kind] = float(weight) if weight else 1.0
        except ValueError:
            raise ConfigError(f"--types: weight of {kind!r} must be a number, got {weight!r}") from None
        if mix[kind] < 0:
            raise ConfigError(f"--types: weight of {kind!r} is {weight}; allowed: a number >= 0")
    if sum(mix.values()) <= 0:
        raise ConfigError(f"--types={text!r}: the weights are all zero; allowed: at least one > 0")
    return mix
