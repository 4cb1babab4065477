"""Benchmark mask-type labels as mask_synth specs, so a synthetic mask can match a real one's type.

Labels follow MFR2 / MaskTheFace: a type, optionally a colour and a side ("surgical_blue",
"KN95", "cloth", "surgical_green_left"); "no-mask" marks an unmasked face. A type mask_synth
cannot draw is drawn as its closest kind in the label's colour, and the spec says so (`exact`).
"""

from __future__ import annotations

from mask_synth import MASK_TYPES, MaskSpec

UNMASKED = "no-mask"
# What each labelled type looks like when no colour is named: the colours these masks are sold in.
TYPE_COLOURS = {
    "surgical": (232, 236, 238),
    "n95": (238, 238, 232),
    "kn95": (238, 238, 236),
    "cloth": (38, 52, 92),
}
NAMED_COLOURS = {
    "blue": (168, 204, 228),
    "green": (172, 214, 200),
    "white": (236, 238, 240),
    "black": (34, 34, 38),
    "grey": (150, 150, 156),
    "gray": (150, 150, 156),
    "pink": (238, 190, 205),
}
SIDES = ("left", "right")
FALLBACK_KIND = "surgical"


def spec_for_label(label: str | None, default: str = "surgical") -> tuple[MaskSpec, bool]:
    """(spec, exact): the mask to draw for a labelled type; `default` is the label used when none is known.

    exact is False when mask_synth has no such type and a surgical mask in its colour stands in,
    or when the label is not one this module knows.
    """
    words = [w for w in (label or default).lower().split("_") if w not in SIDES]
    kind = words[0] if words else default
    colour = next(
        (NAMED_COLOURS[w] for w in words[1:] if w in NAMED_COLOURS), TYPE_COLOURS.get(kind, TYPE_COLOURS[FALLBACK_KIND])
    )
    known = kind in TYPE_COLOURS and all(w in NAMED_COLOURS for w in words[1:])
    if kind in MASK_TYPES:
        return MaskSpec(kind=kind, color=colour), known
    return MaskSpec(kind=FALLBACK_KIND, color=colour), False
