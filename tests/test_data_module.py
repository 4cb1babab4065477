"""RealDataModule: source triples and target pairs from disk in the batch format the model expects."""

import functools

import numpy as np
import pytest
import torch

from conftest import TINY, compose_config
from face_files import colour, write_identity_folders, write_insightface_rec, write_rmfd, write_twins
from mfr.data.readers.packed import write_pack
from mfr.data.readers.rmfd import rmfd_da, rmfd_fv
from mfr.data.readers.sources import open_faces
from mfr.data.real import RealDataModule
from mfr.errors import ConfigError

NO_AUGMENT = {"flip": 0.0}


@pytest.fixture
def data(tmp_path):
    casia = write_identity_folders(tmp_path / "casia", identities=4, per_identity=3)
    return {
        "casia": casia,
        "twins": write_twins(casia, tmp_path / "mcasia"),
        "rmfd": write_rmfd(tmp_path / "rmfd", identities=10, unmasked=3, masked=2),
        "pairs": tmp_path / "pairs.tsv",
    }


def module(data, source_root=None, masked_twins=True, with_twins=True, **kwargs):
    source = functools.partial(
        open_faces, root=source_root or data["casia"], twins=data["twins"] if with_twins else None
    )
    settings = dict(image_size=32, batch_size=4, target_batch_size=2, num_workers=0, augment=NO_AUGMENT, seed=0)
    return RealDataModule(
        source=source,
        target=functools.partial(rmfd_da, root=data["rmfd"]),
        masked_twins=masked_twins,
        val_sets={
            "rmfd_fv": functools.partial(rmfd_fv, root=data["rmfd"], pairs_file=data["pairs"], num_pairs=20, folds=2)
        },
        **settings | kwargs,
    )


def test_batches_carry_uint8_triples_and_mask_labelled_targets(data):
    dm = module(data)
    dm.setup("fit")
    assert dm.num_classes == 4 and len(dm.source) == 12
    batch = {name: next(iter(loader)) for name, loader in dm.train_dataloader().items()}
    source, target = batch["source"], batch["target"]
    assert source["image"].shape == source["masked"].shape == (4, 3, 32, 32)
    assert source["image"].dtype == source["masked"].dtype == torch.uint8
    assert target["image"].shape == (2, 3, 32, 32) and set(target["mask"].tolist()) <= {0, 1}
    for k in range(len(dm.source)):  # every face comes with the twin of the same image and its identity
        sample = dm.source[k]
        face, twin = sample["image"][:, 0, 0].tolist(), sample["masked"][:, 0, 0].tolist()
        assert face[:2] == twin[:2] and (face[2], twin[2]) == (colour(0, 0, 0)[2], colour(0, 0, 1)[2])
        assert face[0] == colour(sample["identity"], 0)[0]
    (val,) = dm.val_dataloader()
    assert next(iter(val))["image"].dtype == torch.uint8


def test_packed_and_folder_sources_give_the_same_samples(data, tmp_path):
    pack = write_pack(open_faces(data["casia"], data["twins"]), tmp_path / "pack", image_size=32)
    folders, packed = module(data), module(data, source_root=pack, with_twins=False)
    folders.setup("fit")
    packed.setup("fit")
    assert len(folders.source) == len(packed.source)
    for k in range(len(folders.source)):
        a, b = folders.source[k], packed.source[k]
        assert a["identity"] == b["identity"]
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["masked"], b["masked"])


def test_without_twins_samples_have_no_masked_image(data):
    dm = module(data, masked_twins=False, use_target=False)
    dm.setup("fit")
    assert len(dm.source) == 12 and dm.target is None  # the twins themselves are not training faces
    assert set(dm.source[0]) == {"image", "identity"}


def test_recordio_trains_without_twins(data, tmp_path):
    dm = module(
        data,
        source_root=write_insightface_rec(tmp_path / "faces_webface_112x112", (3, 2)),
        with_twins=False,
        masked_twins=False,
        use_target=False,
    )
    dm.setup("fit")
    assert dm.num_classes == 2 and [dm.source[k]["identity"] for k in range(5)] == [0, 0, 0, 1, 1]
    batch = next(iter(dm.train_dataloader()["source"]))
    assert batch["image"].shape == (4, 3, 32, 32) and batch["image"].dtype == torch.uint8


def test_configs_that_cannot_train_say_which_key_to_set(data):
    with pytest.raises(ConfigError, match="data.source.twins"):
        module(data, with_twins=False).setup("fit")
    evaluation_only = RealDataModule(
        num_workers=0,
        val_sets={
            "rmfd_fv": functools.partial(rmfd_fv, root=data["rmfd"], pairs_file=data["pairs"], num_pairs=20, folds=2)
        },
    )
    with pytest.raises(ConfigError, match="data.source: this data config holds only"):
        evaluation_only.setup("fit")
    evaluation_only.setup("validate")
    evaluation_only.setup("test")
    assert [v.name for v in evaluation_only.val_sets] == ["rmfd_fv"]
    only_masked = functools.partial(open_faces, root=data["rmfd"] / "AFDB_masked_face_dataset")
    dm = RealDataModule(
        source=functools.partial(open_faces, root=data["casia"], twins=data["twins"]), target=only_masked, num_workers=0
    )
    with pytest.raises(ConfigError, match="data.target: the target needs masked and unmasked images"):
        dm.setup("fit")


def test_unreadable_training_images_are_replaced_and_counted(data):
    (data["casia"] / "id01" / "002.png").write_bytes(b"broken")
    dm = module(data)
    dm.setup("fit")
    samples = [dm.source[k] for k in range(len(dm.source))]
    assert len(samples) == 12 and dm.source.skipped == 1


@pytest.mark.slow
@pytest.mark.parametrize("experiment, twins", [("dann_refine", True), ("baseline_arcface", False)])
def test_fit_trains_on_folder_data(data, tmp_path, experiment, twins):
    from mfr.train.run import train

    overrides = [o for o in TINY if not o.startswith("data.")] + [
        f"experiment={experiment}",
        "data=casia",
        f"data.source.root={data['casia']}",
        f"data.source.twins={data['twins'] if twins else 'null'}",
        f"data.root={data['rmfd']}",
        f"data.val_sets.rmfd_fv.pairs_file={data['pairs']}",
        "data.val_sets.rmfd_fv.num_pairs=20",
        "data.val_sets.rmfd_fv.folds=2",
        "data.image_size=32",
        "data.batch_size=4",
        "data.target_batch_size=2",
        "data.num_workers=0",
    ]
    metrics = train(compose_config(tmp_path, overrides))
    assert 0.0 <= metrics["val/rmfd_fv/acc"] <= 1.0
    assert np.isfinite(metrics["val/rmfd_fv/acc"]) and data["pairs"].exists()
