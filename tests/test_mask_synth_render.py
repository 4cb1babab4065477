"""mask_synth's Python API: render_mask, its geometry and its specs, on synthetic faces with exact landmarks."""

import numpy as np
import pytest

from mask_synth import MASK_TYPES, TEXTURES, MaskSpec, render_mask, sample_spec, template_landmarks
from mask_synth.geometry import layout, mask_shape
from mask_synth.specs import DEFAULT_MIX, parse_mix
from mask_synth.template import CHIN, LEFT_EYE, NOSE_TIP, RIGHT_EYE
from mfr.data.demo.faces import draw_face, sample_identity, sample_shot


def face(seed: int, size: int = 96, pose_spread: float = 1.0):
    rng = np.random.default_rng(seed)
    return draw_face(sample_identity(rng), sample_shot(rng, pose_spread), size, rng)


def posed_face(yaw: float, roll: float, size: int = 96):
    """A face at a chosen pose: a drawn identity with the shot's yaw and roll overridden."""
    rng = np.random.default_rng(7)
    person, shot = sample_identity(rng), sample_shot(rng, 0.0)
    shot.yaw, shot.roll = yaw, roll
    return draw_face(person, shot, size, rng)


def test_same_seed_same_bytes_other_seed_other_mask():
    image, landmarks = face(1)
    spec = MaskSpec(kind="cloth", color=(40, 60, 120), texture="floral")
    first = render_mask(image, landmarks, spec, seed=5)
    again = render_mask(image, landmarks, spec, seed=5)
    other = render_mask(image, landmarks, spec, seed=6)
    assert np.array_equal(first.image, again.image) and np.array_equal(first.alpha, again.alpha)
    assert not np.array_equal(first.image, other.image)
    assert np.array_equal(first.mask, other.mask)  # the seed varies the fabric, not where the mask sits


def test_mask_map_is_what_was_drawn():
    image, landmarks = face(2)
    result = render_mask(image, landmarks, MaskSpec(kind="surgical", color=(20, 200, 40)), seed=0)
    assert result.mask.dtype == np.uint8 and set(np.unique(result.mask)) <= {0, 1}
    assert np.array_equal(result.mask, (result.alpha >= 0.5).astype(np.uint8))
    untouched = result.alpha == 0
    assert np.array_equal(result.image[untouched], image[untouched])  # no pixel outside the mask changes
    change = np.abs(result.image.astype(int) - image.astype(int)).sum(-1)
    assert change[result.mask == 1].mean() > 60  # a green mask on a face is a large change ...
    assert (change[result.mask == 1] > 20).mean() > 0.95  # ... on nearly every mask pixel


@pytest.mark.parametrize("kind", MASK_TYPES)
@pytest.mark.parametrize("yaw,roll", [(0.0, 0.0), (0.35, 0.0), (-0.35, 0.15), (0.0, -0.25)])
def test_each_type_covers_the_lower_face_only(kind, yaw, roll):
    """Nothing between the outer eye corners reaches above the lower lids; nose tip to chin is covered.

    (Ear loops run beside the face, outside the eye corners, up to the ears.)
    """
    image, p = posed_face(yaw, roll)
    shape = mask_shape(kind, p)
    mask = render_mask(image, p, MaskSpec(kind=kind), seed=1).mask
    eyes = (p[LEFT_EYE].mean(0) + p[RIGHT_EYE].mean(0)) / 2
    across = (p[RIGHT_EYE].mean(0) - p[LEFT_EYE].mean(0)) / np.linalg.norm(p[RIGHT_EYE].mean(0) - p[LEFT_EYE].mean(0))
    down = np.array([-across[1], across[0]])
    lower_lid = max((p[[40, 41, 46, 47]] - eyes) @ down)
    ys, xs = np.nonzero(mask)
    pixels = np.stack([xs, ys], 1) - eyes
    between_eyes = ((pixels @ across) > (p[36] - eyes) @ across) & ((pixels @ across) < (p[45] - eyes) @ across)
    assert (pixels[between_eyes] @ down).min() > lower_lid, "the mask reaches up to the eyes"
    assert ((shape.outline - eyes) @ down).min() > lower_lid, "the mask's surface reaches up to the eyes"
    for x, y in [p[NOSE_TIP] + (p[CHIN] - p[NOSE_TIP]) * t for t in np.linspace(0, 0.9, 10)]:
        assert mask[int(round(y)), int(round(x))] == 1, "nose tip to chin must be covered"


def test_the_mask_turns_with_the_face():
    """Roll the landmarks about a point: the outline rolls with them, exactly (it is a blend of them)."""
    _, p = face(3, pose_spread=0.0)
    centre, angle = np.array([48.0, 50.0]), 0.3
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rolled = (p - centre) @ rotation.T + centre
    for kind in MASK_TYPES:
        outline = mask_shape(kind, p).outline
        assert np.allclose(mask_shape(kind, rolled).outline, (outline - centre) @ rotation.T + centre, atol=1e-6)


def test_blends_are_affine_combinations():
    """Every mask point is a weighted mean of landmarks (weights sum to 1), so it moves with the face."""
    for kind in MASK_TYPES:
        plan = layout(kind)
        placed = plan.weights[: plan.outline.stop]
        assert np.allclose(placed.sum(1), 1.0)


def test_parts_follow_yaw():
    """Turned away, the far ear's loops disappear; a respirator's far cartridge turns edge-on."""
    _, frontal = posed_face(0.0, 0.0)
    _, turned = posed_face(0.6, 0.0)
    assert sum(p.role == "cord" for p in mask_shape("surgical", frontal).parts) == 4
    assert sum(p.role == "cord" for p in mask_shape("surgical", turned).parts) == 2
    widths = [np.ptp(p.polygon[:, 0]) for p in mask_shape("respirator", turned).parts if p.role == "filter"]
    assert min(widths) < 0.6 * max(widths)


def test_mask_outside_the_image_changes_nothing():
    image, p = face(4)
    result = render_mask(image, p + 500, MaskSpec(kind="n95"), seed=0)
    assert np.array_equal(result.image, image) and result.mask.sum() == 0


def test_template_landmarks_on_an_aligned_crop():
    image = np.full((112, 112, 3), 150, np.uint8)
    result = render_mask(image, template_landmarks(112), MaskSpec(kind="kn95", color=(30, 30, 30)), seed=0)
    assert 0.2 < result.mask.mean() < 0.5


def test_bad_inputs_are_named():
    image, p = face(5)
    with pytest.raises(ValueError, match="68, 2"):
        render_mask(image, p[:5], MaskSpec(), seed=0)
    with pytest.raises(ValueError, match="uint8 RGB"):
        render_mask(image.astype(np.float32), p, MaskSpec(), seed=0)
    with pytest.raises(ValueError, match="unknown mask type 'scarf'"):
        MaskSpec(kind="scarf")
    with pytest.raises(ValueError, match="unknown texture"):
        MaskSpec(texture="tartan")
    with pytest.raises(ValueError, match="0-255"):
        MaskSpec(color=(300, 0, 0))


def test_every_texture_renders_and_differs_from_plain():
    image, p = face(6)
    plain = render_mask(image, p, MaskSpec(kind="cloth", color=(200, 60, 60)), seed=3).image
    for texture in TEXTURES[1:]:
        patterned = render_mask(
            image, p, MaskSpec(kind="cloth", color=(200, 60, 60), texture=texture, pattern_color=(20, 20, 200)), seed=3
        )
        assert np.abs(patterned.image.astype(int) - plain.astype(int)).sum(-1).max() > 60, texture


def test_sample_spec_is_seeded_and_follows_the_mix():
    draw = lambda seed, **kw: [sample_spec(np.random.default_rng([seed, i]), **kw) for i in range(400)]  # noqa: E731
    assert draw(1) == draw(1) and draw(1) != draw(2)
    kinds = [s.kind for s in draw(3, kinds={"surgical": 3, "cloth": 1})]
    assert set(kinds) == {"surgical", "cloth"} and 0.65 < kinds.count("surgical") / len(kinds) < 0.85
    colours = {s.color for s in draw(4, kinds=["kn95"], palette=[(1, 2, 3)])}
    assert colours == {(1, 2, 3)}
    assert {s.texture for s in draw(5, kinds=["cloth"], textures=["dots"])} == {"dots"}
    spec = draw(6)[0]
    assert MaskSpec(**spec.to_dict()) == spec  # a manifest's spec rebuilds the same spec


def test_parse_mix():
    assert parse_mix("mix") == DEFAULT_MIX
    assert parse_mix("random") == {k: 1.0 for k in MASK_TYPES}
    assert parse_mix("n95") == {"n95": 1.0}
    assert parse_mix("surgical=3,cloth=1") == {"surgical": 3.0, "cloth": 1.0}
    with pytest.raises(ValueError, match="unknown mask type 'hat'"):
        parse_mix("hat=1")
    with pytest.raises(ValueError, match="must be a number"):
        parse_mix("n95=lots")
