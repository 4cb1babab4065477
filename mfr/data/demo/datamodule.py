"""`data=demo`: a synthetic masked-face dataset generated in seconds, so mfr runs with no downloads.

Three groups of procedurally drawn identities (see `mfr.data.demo.faces`), none of them real people:
- source: identities for training, each image with a masked twin rendered by mask_synth in the
  "synthetic" style (clean photometry, plain surgical and N95 masks in light colours);
- target: other identities in a "real" style (colour cast, low contrast, JPEG artefacts; patterned
  cloth masks, black KN95s, respirators, dark surgical masks), half of them masked, carrying only the
  mask label: the domain DANN adapts to;
- held-out: identities never trained on, for masked-vs-unmasked verification pairs, once in the
  real style (`demo_real`, the headline number) and once in the synthetic style (`demo_synth`).
Every image is a pure function of (seed, group, identity, image index), so runs are reproducible.
"""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np

from mask_synth import MaskSpec, render_mask
from mfr.data.datamodule import FaceDataModule
from mfr.data.demo.faces import draw_face, sample_identity, sample_shot
from mfr.data.pairs import make_pairs
from mfr.data.sets import MaskLabeledFaces, PairedFaces, VerificationSet
from mfr.data.transforms import build_augment

log = logging.getLogger(__name__)

SOURCE, TARGET, HELD_OUT = 0, 1, 2
# "synthetic" masks: the plain, light surgical and N95 masks that synthesizers default to
SYNTHETIC_MASKS = [
    ("surgical", (225, 232, 236), "plain"),
    ("surgical", (170, 205, 230), "plain"),
    ("surgical", (190, 225, 205), "plain"),
    ("n95", (238, 238, 232), "plain"),
    ("n95", (205, 218, 232), "plain"),
]
# "real" masks: what people wore: patterned cloth, black KN95s, respirators, dark surgical masks
REAL_MASKS = [
    ("cloth", (38, 52, 92), "stripes"),
    ("cloth", (150, 30, 40), "checks"),
    ("cloth", (30, 32, 40), "dots"),
    ("cloth", (96, 104, 62), "camo"),
    ("cloth", (200, 150, 170), "floral"),
    ("kn95", (30, 30, 33), "plain"),
    ("respirator", (112, 114, 120), "plain"),
    ("surgical", (34, 34, 38), "plain"),
]


def mask_spec(rng: np.random.Generator, style: str) -> MaskSpec:
    """A mask for a face of this style. Masks are drawn crisp (no camera matching): clean in the synthetic
    style, and the real style's photometry then degrades face and mask together."""
    palette = SYNTHETIC_MASKS if style == "synthetic" else REAL_MASKS
    kind, colour, texture = palette[rng.integers(len(palette))]
    jitter = rng.normal(0, 8, 3)
    colour = tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(colour, jitter))
    return MaskSpec(kind=kind, color=colour, texture=texture, match_camera=False)


def real_photometry(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift an image into the target domain: colour cast, lower contrast, softer, JPEG-compressed."""
    img = image.astype(np.float32)
    cast = np.array([1.08, 1.0, 0.86]) * rng.uniform(0.95, 1.05, 3)
    img = (img - 128) * rng.uniform(0.75, 0.9) + 128 + rng.uniform(-5, 15)
    img = np.clip(img * cast, 0, 255).astype(np.uint8)
    h, w = img.shape[:2]
    small = cv2.resize(img, (int(w * 0.75), int(h * 0.75)), interpolation=cv2.INTER_AREA)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 70))])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


def render_identity(seed: int, group: int, identity: int, count: int, size: int, style: str, masked_share: float):
    """All images of one identity: (unmasked (n,S,S,3), masked (n,S,S,3), is_masked_view (n,))."""
    identity_rng = np.random.default_rng([seed, group, identity])
    person = sample_identity(identity_rng)
    plain, masked, shown_masked = [], [], []
    for i in range(count):
        rng = np.random.default_rng([seed, group, identity, i])
        image, landmarks = draw_face(person, sample_shot(rng), size, rng)
        twin = render_mask(image, landmarks, mask_spec(rng, style), seed=int(rng.integers(2**31))).image
        if style == "real":
            image, twin = real_photometry(image, rng), real_photometry(twin, rng)
        plain.append(image)
        masked.append(twin)
        shown_masked.append(rng.random() < masked_share)
    return np.stack(plain), np.stack(masked), np.array(shown_masked)


def render_group(seed, group, identities, count, size, style, masked_share=0.5, workers=1):
    jobs = [(seed, group, i, count, size, style, masked_share) for i in range(identities)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(render_identity, *zip(*jobs), chunksize=8))
    else:
        parts = [render_identity(*job) for job in jobs]
    plain = np.concatenate([p[0] for p in parts])
    masked = np.concatenate([p[1] for p in parts])
    shown_masked = np.concatenate([p[2] for p in parts])
    labels = np.repeat(np.arange(identities), count)
    return plain, masked, shown_masked, labels


class DemoDataModule(FaceDataModule):
    def __init__(
        self,
        identities: int = 300,
        images_per_identity: int = 12,
        target_identities: int = 100,
        target_images_per_identity: int = 10,
        val_identities: int = 60,
        val_images_per_identity: int = 8,
        val_pairs: int = 1200,
        generate_workers: int | str = "auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.identities, self.images_per_identity = identities, images_per_identity
        self.target_identities, self.target_images_per_identity = target_identities, target_images_per_identity
        self.val_identities, self.val_images_per_identity, self.val_pairs = (
            val_identities,
            val_images_per_identity,
            val_pairs,
        )
        self.generate_workers = self.num_workers + 1 if generate_workers == "auto" else int(generate_workers)

    def build(self) -> None:
        log.info("data=demo: generating SYNTHETIC demo faces (procedurally drawn, no real people)")
        size, seed, workers = self.image_size, self.seed, self.generate_workers
        plain, masked, _, labels = render_group(
            seed, SOURCE, self.identities, self.images_per_identity, size, "synthetic", workers=workers
        )
        augment = build_augment(size, paired=True, seed=seed, **self.augment_cfg)
        self.source = PairedFaces(plain, masked, labels, augment)
        if self.use_target:
            plain, masked, shown_masked, _ = render_group(
                seed, TARGET, self.target_identities, self.target_images_per_identity, size, "real", workers=workers
            )
            images = np.where(shown_masked[:, None, None, None], masked, plain)
            target_aug = build_augment(size, seed=seed, **self.augment_cfg)
            self.target = MaskLabeledFaces(images, shown_masked.astype(np.int64), target_aug)
        self.val_sets = [
            self._verification(style, name) for style, name in (("real", "demo_real"), ("synthetic", "demo_synth"))
        ]
        log.info(
            "demo data: %d source images of %d identities, %d target images, %s",
            len(self.source),
            self.identities,
            0 if self.target is None else len(self.target),
            ", ".join(f"{v.name}: {len(v.pairs)} pairs" for v in self.val_sets),
        )

    def _verification(self, style: str, name: str) -> VerificationSet:
        """Masked probes vs unmasked references of held-out identities: each view is one or the other."""
        plain, masked, shown_masked, labels = render_group(
            self.seed,
            HELD_OUT,
            self.val_identities,
            self.val_images_per_identity,
            self.image_size,
            style,
            workers=self.generate_workers,
        )
        # alternate views so every identity has both masked probes and unmasked references
        shown_masked = np.tile(np.arange(self.val_images_per_identity) % 2 == 1, self.val_identities)
        images = np.where(shown_masked[:, None, None, None], masked, plain)
        pairs, same, folds = make_pairs(labels, shown_masked, ~shown_masked, self.val_pairs, seed=self.seed)
        return VerificationSet(
            name, images, pairs, same, folds, meta={"identity": labels, "masked": shown_masked.astype(np.int64)}
        )
