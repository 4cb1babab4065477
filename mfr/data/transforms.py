"""Train-time augmentation with albumentations; every transform is on/off by its probability in config.

A source face and its masked twin get the same draw (same flip, same crop), so their attention maps
stay spatially comparable for the attention-score loss.
"""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import torch
from lightning_fabric.utilities.seed import pl_worker_init_function


def build_augment(
    image_size: int,
    flip: float = 0.5,
    color: float = 0.0,
    blur: float = 0.0,
    low_res: float = 0.0,
    crop: float = 0.0,
    paired: bool = False,
    seed: int | None = 0,
) -> A.Compose:
    """Resize to `image_size`, then each augmentation with its probability (0 turns it off).

    `seed` fixes the draws of a dataset used directly; FaceDataModule's loaders reseed them per rank and worker.
    """
    steps: list = [A.Resize(image_size, image_size, interpolation=cv2.INTER_AREA)]
    if crop:
        steps.append(A.RandomResizedCrop(size=(image_size, image_size), scale=(0.8, 1.0), ratio=(0.9, 1.1), p=crop))
    if flip:
        steps.append(A.HorizontalFlip(p=flip))
    if color:
        steps.append(A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.03, p=color))
    if blur:
        steps.append(A.GaussianBlur(sigma_limit=(0.3, 1.5), p=blur))
    if low_res:
        steps.append(A.Downscale(scale_range=(0.3, 0.7), p=low_res))
    return A.Compose(steps, additional_targets={"masked": "image"} if paired else None, seed=seed)


def resize_only(image_size: int) -> A.Compose:
    return A.Compose([A.Resize(image_size, image_size, interpolation=cv2.INTER_AREA)])


def seed_augment(dataset, *entropy: int) -> None:
    """Reseed a dataset's augmentation (albumentations keeps its own generator) from `entropy`, mixed into one seed."""
    augment = getattr(dataset, "augment", None)
    if augment is not None:
        augment.set_random_seed(int(np.random.SeedSequence(entropy).generate_state(1)[0]))


def seed_loader_worker(worker_id: int, rank: int = 0) -> None:
    """DataLoader worker_init_fn: random streams of the worker's own on every rank.

    Lightning's worker seeding mixes the loader's base seed, the worker and the global rank into torch's,
    numpy's and random's seeds (a loader with a worker_init_fn of its own does not get it, so it is called
    here); without the rank, worker k would draw the same flips and crops on every rank. albumentations'
    generator, which every forked worker would otherwise copy, is reseeded from torch's.
    """
    pl_worker_init_function(worker_id, rank)
    seed_augment(torch.utils.data.get_worker_info().dataset, torch.initial_seed())
