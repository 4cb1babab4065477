"""Train-time augmentation with albumentations; every transform is on/off by its probability in config.

A source face and its masked twin get the same draw (same flip, same crop), so their attention maps
stay spatially comparable for the attention-score loss.
"""

from __future__ import annotations

import albumentations as A
import cv2
import torch


def build_augment(image_size: int, flip: float = 0.5, color: float = 0.0, blur: float = 0.0, low_res: float = 0.0,
                  crop: float = 0.0, paired: bool = False, seed: int | None = 0) -> A.Compose:
    """Resize to `image_size`, then each augmentation with its probability (0 turns it off).

    `seed` fixes the draws in the main process; DataLoader workers reseed in `seed_worker_augment`.
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


def seed_worker_augment(worker_id: int) -> None:
    """DataLoader worker_init_fn: give each worker's augmentation its own random stream.

    albumentations keeps its own generator, which every forked worker would otherwise copy.
    """
    info = torch.utils.data.get_worker_info()
    augment = getattr(info.dataset, "augment", None) if info is not None else None
    if augment is not None:
        augment.set_random_seed(torch.initial_seed() % 2**32)
