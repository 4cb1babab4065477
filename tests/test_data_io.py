"""The corrupt-image policy: every unreadable file is named, skipped and counted, never lost silently."""

import logging

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mfr.data.readers.io import (
    CorruptImageError,
    DatasetLayoutError,
    ImageFiles,
    SkipCorrupt,
    SkippedImages,
    read_all,
    read_image,
    require,
)


def write_jpeg(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.zeros((16, 16, 3), np.uint8)
    image[..., 0] = value  # red channel: checks RGB order after OpenCV's BGR
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def test_read_image_returns_rgb(tmp_path):
    image = read_image(write_jpeg(tmp_path / "a.jpg", 200))
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8
    assert abs(int(image[..., 0].mean()) - 200) < 3 and image[..., 2].mean() < 3


@pytest.mark.parametrize("content, reason", [(b"", "empty"), (b"not a jpeg at all", "not a decodable image")])
def test_unreadable_files_name_the_file_and_the_cause(tmp_path, content, reason):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(content)
    with pytest.raises(CorruptImageError, match=reason) as info:
        read_image(bad)
    assert info.value.path == str(bad)
    with pytest.raises(CorruptImageError, match="cannot read"):
        read_image(tmp_path / "missing.jpg")


def test_read_all_skips_and_records_each_bad_file(tmp_path, caplog):
    good = [write_jpeg(tmp_path / f"{i}.jpg", 10 * i) for i in range(3)]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"junk")
    skipped = SkippedImages("test set")
    images = read_all(ImageFiles([good[0], bad, good[1], good[2]]), skipped, size=8, threads=2)
    assert images[1] is None and all(images[i].shape == (8, 8, 3) for i in (0, 2, 3))
    assert skipped.files == [(str(bad), "not a decodable image (corrupt or unsupported format)")]
    with caplog.at_level(logging.WARNING):
        message = skipped.report(total=4)
    assert "skipped 1 of 4" in message and str(bad) in caplog.text


def test_require_shows_the_expected_layout(tmp_path):
    with pytest.raises(DatasetLayoutError, match="does not exist. Expected layout:\n<root>/<identity>"):
        require(tmp_path / "nowhere", "<root>/<identity>/<image>")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetLayoutError, match="is not a folder"):
        require(tmp_path / "file", "layout")
    assert require(tmp_path / "file", "layout", folder=False) == tmp_path / "file"


class Pixels(torch.utils.data.Dataset):
    def __init__(self, files):
        self.files = files

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return torch.from_numpy(self.files[i][0, 0])


@pytest.mark.parametrize("workers", [0, 2])
def test_skip_corrupt_serves_the_next_sample_and_counts_across_workers(tmp_path, workers):
    paths = [write_jpeg(tmp_path / f"{i}.jpg", 40 * i) for i in range(6)]
    paths[2].write_bytes(b"broken")
    paths[4].write_bytes(b"")
    dataset = SkipCorrupt(Pixels(ImageFiles(paths)), "pixels")
    loader = DataLoader(dataset, batch_size=1, num_workers=workers, shuffle=False)
    reds = [int(batch[0, 0]) for batch in loader]
    # 2 is served by 3, 4 by 5: nothing crashes, every sample is real, and both skips are counted
    assert np.allclose(reds, [0, 40, 120, 120, 200, 200], atol=3)
    assert dataset.skipped == 2


def test_skip_corrupt_gives_up_when_nothing_is_readable(tmp_path):
    paths = [tmp_path / f"{i}.jpg" for i in range(3)]
    for p in paths:
        p.write_bytes(b"x")
    with pytest.raises(CorruptImageError, match="3 unreadable samples in a row"):
        SkipCorrupt(Pixels(ImageFiles(paths)), "pixels", max_tries=3)[0]
