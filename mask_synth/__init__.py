"""mask_synth: turn unmasked face images into masked twins with a mask map and a record of what was drawn.

Python API: `render_mask(image, landmarks, MaskSpec(kind, color, texture), seed)` on one image and its
68 landmarks; `sample_spec(rng, kinds, weights, palette, textures)` draws a spec. Command line:
`python -m mask_synth INPUT OUTPUT` (a dataset), `... preview` (a contact sheet), `... bench` (speed).

Modules, one idea each: specs (what to draw), template (68-point ArcFace template), geometry (where
a mask goes, as landmark blends), textures (fabric and patterns in the mask's own surface space),
photometry (the photo's light, exposure, blur and grain), render (the compositing), landmarks
(finding the 68 points with dlib), dataset (files), runner (parallel, sharded, resumable jobs),
synth (the per-image job), cli / preview / bench (commands).
"""

from mask_synth.render import MaskResult, render_mask
from mask_synth.specs import DEFAULT_MIX, MASK_TYPES, TEXTURES, MaskSpec, sample_spec
from mask_synth.template import TEMPLATE_68, posed_landmarks, template_landmarks

__all__ = [
    "DEFAULT_MIX",
    "MASK_TYPES",
    "TEXTURES",
    "MaskResult",
    "MaskSpec",
    "render_mask",
    "sample_spec",
    "TEMPLATE_68",
    "posed_landmarks",
    "template_landmarks",
]
