"""The whole real-data pipeline on a few real people, through the command lines a user types:
`mfr.align` (source photos and RMFD), `mask_synth --aligned`, `mfr.fit data=faces_cpu` (a few steps of the
full model, with the held-out people and RMFD_FV as validation sets), then `mfr.evaluate` of its checkpoint.
Skipped without ../shared/data (a fresh clone has none)."""

import json
import shutil

import pytest

from conftest import run_module

pytestmark = pytest.mark.slow  # real photos through dlib and training: minutes on a CPU

PEOPLE, PHOTOS = 10, 4  # source: CFP people (frontal shots), 2 of them held out
RMFD_PEOPLE, RMFD_PHOTOS = (
    8,
    2,
)  # target and test: 4 RMFD_DA + 4 RMFD_FV people (2 folds need 4), masked and unmasked photos each


def copy_photos(people, pattern: str, count: int, into):
    for person in people:
        (into / person.name).mkdir(parents=True, exist_ok=True)
        for photo in sorted(person.glob(pattern))[:count]:
            shutil.copy(photo, into / person.name / photo.name)


def run(*args: str, cwd):
    """A step of the pipeline, on one OpenMP thread (the suite shares the cores); the test fails where it fails."""
    return run_module(*args, cwd=cwd, env={"OMP_NUM_THREADS": "1"}, check=True)


def test_real_photos_go_from_align_to_fit_to_evaluate(shared_data, tmp_path):
    realfaces, rmfd = shared_data / "realfaces", shared_data / "rmfd_subset"
    cfp = [d for d in sorted(realfaces.iterdir()) if len(list(d.glob("cfp_frontal_*.jpg"))) >= PHOTOS][:PEOPLE]
    copy_photos(cfp, "cfp_frontal_*.jpg", PHOTOS, tmp_path / "photos")
    both = [
        d.name
        for d in sorted((rmfd / "AFDB_masked_face_dataset").iterdir())
        if (rmfd / "AFDB_face_dataset" / d.name).is_dir()
    ][:RMFD_PEOPLE]
    for kind in ("AFDB_face_dataset", "AFDB_masked_face_dataset"):
        copy_photos([rmfd / kind / name for name in both], "*.jpg", RMFD_PHOTOS, tmp_path / "rmfd" / kind)

    run("mfr.align", "photos", "faces", "--quiet", cwd=tmp_path)
    run("mask_synth", "faces", "faces_twins", "--aligned", "--quiet", cwd=tmp_path)
    run(
        "mfr.align", "rmfd", "data/rmfd", "--landmarks", "tight", "--quiet", cwd=tmp_path
    )  # too few photos to measure it
    (tmp_path / "data").joinpath("faces").symlink_to(tmp_path / "faces")
    (tmp_path / "data").joinpath("faces_twins").symlink_to(tmp_path / "faces_twins")

    data = [
        "data=faces_cpu",
        "paths.data_dir=data",
        "data.holdout.identities=4",
        "data.holdout.num_pairs=24",
        "data.holdout.folds=2",
        "data.val_sets.rmfd_fv.num_pairs=12",
        "data.val_sets.rmfd_fv.folds=2",
        "data.num_workers=0",
    ]
    small = [
        "model.embedding_size=64",
        "model.backbone.channels=64",
        "data.batch_size=8",
        "data.target_batch_size=4",
        "data.val_batch_size=16",
        "trainer.max_epochs=1",
        "logger=csv",
        "~callbacks.progress_bar",
        "trainer.enable_progress_bar=false",
        "hydra.run.dir=run",
    ]
    run("mfr.fit", "experiment=dann_refine", *data, *small, cwd=tmp_path)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    for key in ("val/holdout/acc", "val/holdout/umr_mp/acc", "val/rmfd_fv/acc", "val/attention/entropy"):
        assert 0.0 <= metrics[key] <= 4.0, key

    out = run(
        "mfr.evaluate", "ckpt_path=run/checkpoints/last.ckpt", *data, "logger=csv", "hydra.run.dir=eval", cwd=tmp_path
    ).stdout
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert {"holdout", "rmfd_fv"} <= set(results["sets"]), out
    assert "rmfd_fv" in out and "holdout" in out
