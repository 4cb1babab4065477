"""The real pipeline's first two steps on a handful of real people, through the command lines a user types:
`python -m mfr.align` (frontal and profile photos), then `python -m mask_synth --aligned`. Skipped without
../shared/data (a fresh clone has none)."""

import shutil

import numpy as np
import pytest

from mask_synth import runner
from mask_synth.cli import main as mask_synth_main
from mask_synth.template import ARCFACE_5
from mfr.align import five_points
from mfr.align import main as align_main

pytestmark = pytest.mark.slow  # real photos through dlib: tens of seconds on a CPU

PEOPLE, FRONTAL, PROFILE = 2, 3, 3  # photos copied per person: about 12 photos, ~20 s on a busy 2-core machine


def test_real_frontal_and_profile_photos_are_aligned_then_masked(shared_data, tmp_path):
    realfaces = shared_data / "realfaces"
    people = [d for d in sorted(realfaces.iterdir()) if len(list(d.glob("cfp_profile_*.jpg"))) >= PROFILE][:PEOPLE]
    for person in people:  # the first people (by name) with profile shots: no names kept in the project
        for photo in (
            sorted(person.glob("cfp_frontal_*.jpg"))[:FRONTAL] + sorted(person.glob("cfp_profile_*.jpg"))[:PROFILE]
        ):
            (tmp_path / "photos" / person.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(photo, tmp_path / "photos" / person.name / photo.name)
    aligned, twins = tmp_path / "aligned", tmp_path / "twins"
    assert align_main([str(tmp_path / "photos"), str(aligned), "--quiet"]) == 0
    records = runner.load_records(aligned)
    assert len(records) == PEOPLE * (FRONTAL + PROFILE)
    placed = {s: r for s, r in records.items() if r["status"] != "failed"}
    assert len(placed) >= len(records) - 1  # profiles included: at most one photo without a checked fit
    for source, record in placed.items():
        landmarks = np.array(record["landmarks"])
        if "frontal" in source:  # frontal faces land on the template
            assert np.abs(five_points(landmarks) - ARCFACE_5).max() < 8.0
        eyes = landmarks[36:48].mean(0)  # every face, profiles too: the eyes' middle near the template's eye line
        assert abs(eyes[1] - ARCFACE_5[:2, 1].mean()) < 8.0 and 25 < eyes[0] < 87
    assert {r["landmark_source"] for s, r in placed.items() if "profile" in s} & {
        "cnn",
        "cnn-posed",
        "detector",
        "detector-upsampled",
    }
    assert mask_synth_main([str(aligned), str(twins), "--aligned", "--quiet"]) == 0
    masked = runner.load_records(twins)
    assert {r["status"] for r in masked.values()} == {"masked"} and len(masked) == len(placed)
    assert {r["landmark_source"] for r in masked.values()} == {"given"}  # each twin's mask at mfr.align's landmarks
