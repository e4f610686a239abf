"""Image-space augmentation: skimage-equal HED conversion, joint warps, masks stay label maps."""

from __future__ import annotations

import numpy as np
import torch
from skimage.color import hed2rgb, rgb2hed

from phenocell.benchmark.augment import Augmenter, HEDJitter, hed_to_rgb, rgb_to_hed


def test_hed_conversion_matches_skimage() -> None:
    rgb = np.random.default_rng(0).random((5, 7, 3))
    ours = rgb_to_hed(torch.from_numpy(rgb).permute(2, 0, 1)[None].double())[0].permute(1, 2, 0).numpy()
    assert np.allclose(
        np.maximum(ours, 0), rgb2hed(rgb), atol=1e-6
    )  # skimage clips at 0; the jitter does not
    assert (ours < 0).any()
    back = hed_to_rgb(torch.from_numpy(rgb2hed(rgb)).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert np.allclose(back, hed2rgb(rgb2hed(rgb)), atol=1e-6)
    unclipped = hed_to_rgb(torch.from_numpy(ours).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert np.allclose(unclipped, rgb, atol=1e-6)  # without the clip the round trip is exact


def test_hed_jitter_is_bounded_and_changes_colour() -> None:
    torch.manual_seed(0)
    rgb = torch.rand(4, 3, 16, 16) * 0.8 + 0.1
    out = HEDJitter()(rgb)
    assert out.shape == rgb.shape and out.min() >= 0 and out.max() <= 1
    assert 0 < (out - rgb).abs().mean() < 0.2


def test_flips_move_image_and_masks_together() -> None:
    torch.manual_seed(1)
    semantic = torch.randint(0, 15, (8, 12, 12), dtype=torch.uint8)
    instance = torch.randint(0, 500, (8, 12, 12), dtype=torch.int32)
    image = (semantic.float() / 14).unsqueeze(1).repeat(1, 3, 1, 1)  # image encodes the label
    img, sem, inst = Augmenter("flips")(image, semantic, instance)
    assert torch.equal((img[:, 0] * 14).round().to(torch.uint8), sem)
    assert not torch.equal(sem, semantic)  # some flip happened in 8 tiles
    # every tile is a flip of itself: the multiset of instance ids per tile is unchanged
    assert all(
        torch.equal(a.flatten().sort()[0], b.flatten().sort()[0]) for a, b in zip(inst, instance, strict=True)
    )


def test_reference_warps_keep_masks_label_maps_and_aligned() -> None:
    torch.manual_seed(2)
    semantic = torch.zeros(4, 64, 64, dtype=torch.uint8)
    semantic[:, 16:48, 16:48] = 7
    semantic[:, 20:24, 20:24] = 255  # ignore survives nearest sampling
    instance = (semantic > 0).int() * 300
    image = (semantic == 7).float().unsqueeze(1).repeat(1, 3, 1, 1)
    img, sem, inst = Augmenter("reference")(image, semantic, instance)
    assert set(sem.unique().tolist()) <= {0, 7, 255}
    assert set(inst.unique().tolist()) <= {0, 300}
    assert sem.dtype == torch.uint8 and inst.dtype == torch.int32
    # where the (unjittered) warped image is clearly inside the square, the mask says class 7
    inside = img.mean(dim=1) > 0.9
    assert inside.any() and ((sem[inside] == 7) | (sem[inside] == 255)).float().mean() > 0.95


def test_without_an_instance_map_image_and_semantic_get_the_same_warp_and_colour() -> None:
    semantic = torch.randint(0, 15, (3, 48, 48), dtype=torch.uint8)
    instance = torch.randint(0, 900, (3, 48, 48), dtype=torch.int32)
    image = torch.rand(3, 3, 48, 48)
    augmenter = Augmenter("reference")
    torch.manual_seed(5)
    img, sem, inst = augmenter(image, semantic, instance)
    torch.manual_seed(5)
    img_only, sem_only, none = augmenter(image, semantic, None)
    assert none is None and inst is not None and not torch.equal(sem, semantic)
    assert torch.equal(img, img_only) and torch.equal(sem, sem_only)
