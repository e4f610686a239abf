"""Synthetic cells of one FoV: positions, classes, label masks and the rendered H&E."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.draw import ellipse

from phenocell.panoptic.class_merges import load_class_map
from phenocell.schema import CLASS_NAMES, IGNORE_INDEX
from phenocell.synthetic.appearance import CLUSTER_WEIGHTS, LOOKS, Look

SPACING_UM = 9.0


@dataclass
class Cells:
    """The cells drawn in one FoV (index i ↔ mask value i + 1 in ``index_mask``)."""

    names: list[str]
    cy: np.ndarray  # mask px
    cx: np.ndarray
    radii: np.ndarray  # (n, 2) mask px
    angle: np.ndarray


def class_look(name: str) -> Look:
    """Appearance of a granular cluster name."""
    cid = load_class_map().ids[name]
    return LOOKS["dirt" if cid == IGNORE_INDEX else CLASS_NAMES[cid]]


def sample_cells(rng: np.random.Generator, shape: tuple[int, int], mpp: float) -> Cells:
    """Jittered-grid cell centres with classes by frequency; a smooth field makes tumor nests."""
    step = SPACING_UM / mpp
    ys, xs = np.meshgrid(
        np.arange(step / 2, shape[0], step), np.arange(step / 2, shape[1], step), indexing="ij"
    )
    cy = (ys.ravel() + rng.uniform(-0.35, 0.35, ys.size) * step).clip(0, shape[0] - 1)
    cx = (xs.ravel() + rng.uniform(-0.35, 0.35, xs.size) * step).clip(0, shape[1] - 1)
    field = ndimage.gaussian_filter(rng.normal(size=(8, 8)), 1.5)
    field = ndimage.zoom(field, (shape[0] / 8, shape[1] / 8), order=1)
    nest = (
        field[cy.astype(int).clip(0, field.shape[0] - 1), cx.astype(int).clip(0, field.shape[1] - 1)] > 0.05
    )
    names = np.array(list(CLUSTER_WEIGHTS))
    weights = np.array(list(CLUSTER_WEIGHTS.values()))
    chosen = rng.choice(names, size=cy.size, p=weights / weights.sum())
    tumor_boost = nest & (rng.uniform(size=cy.size) < 0.3)
    chosen[tumor_boost] = "tumor cells"
    looks = [class_look(n) for n in chosen]
    size = np.array([lk.radius_um for lk in looks]) / mpp * rng.uniform(0.85, 1.15, cy.size)
    aspect = np.array([lk.aspect for lk in looks]) * rng.uniform(0.9, 1.1, cy.size)
    radii = np.stack([size / np.sqrt(aspect), size * np.sqrt(aspect)], axis=1)
    return Cells(list(chosen), cy, cx, radii, rng.uniform(0, np.pi, cy.size))


def draw_index_mask(cells: Cells, shape: tuple[int, int]) -> np.ndarray:
    """Paint cell ellipses (later cells over earlier ones, so neighbours touch); value i + 1 = cell i."""
    out = np.zeros(shape, dtype=np.int32)
    for i in range(len(cells.names)):
        rr, cc = ellipse(
            cells.cy[i], cells.cx[i], cells.radii[i, 0], cells.radii[i, 1], shape, rotation=cells.angle[i]
        )
        out[rr, cc] = i + 1
    return out


def render_he(rng: np.random.Generator, cells: Cells, index_mask: np.ndarray, scale: int) -> np.ndarray:
    """Render an H&E-like RGB image at ``scale`` x the mask resolution."""
    idx = np.repeat(np.repeat(index_mask, scale, axis=0), scale, axis=1)
    height, width = idx.shape
    looks = [class_look(n) for n in cells.names]
    cyto = np.array([(255, 235, 242)] + [lk.cyto_rgb for lk in looks], dtype=np.float32)
    cyto[1:] *= rng.uniform(0.93, 1.05, (len(looks), 1)).astype(np.float32)
    image = cyto[idx]
    texture = np.array([0.04] + [lk.texture for lk in looks], dtype=np.float32)[idx]
    for i, lk in enumerate(looks):
        lobes = lk.lobes
        for lobe in range(lobes):
            off = (lobe - (lobes - 1) / 2) * cells.radii[i, 1] * 0.5
            cy = (cells.cy[i] + off * np.sin(cells.angle[i]) + 0.5) * scale
            cx = (cells.cx[i] + off * np.cos(cells.angle[i]) + 0.5) * scale
            r0, r1 = cells.radii[i] * lk.nucleus * scale / np.sqrt(lobes)
            rr, cc = ellipse(cy, cx, max(r0, 1.0), max(r1, 1.0), (height, width), rotation=cells.angle[i])
            own = idx[rr, cc] == i + 1
            image[rr[own], cc[own]] = lk.nucleus_rgb
    noise = ndimage.gaussian_filter(rng.normal(size=(height, width)).astype(np.float32), 1.0) * 2.5
    image *= (1.0 + texture * noise)[..., None]
    image += rng.normal(0, 4.0, image.shape).astype(np.float32)
    for c in range(3):
        image[..., c] = ndimage.gaussian_filter(image[..., c], 0.6)
    return image.clip(0, 255).astype(np.uint8)
