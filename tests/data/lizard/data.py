"""Seeded generator of a tiny Lizard export in the released layout (style rule 6).

``python tests/data/lizard/data.py OUT`` writes one; the tests call :func:`make_lizard` directly. Images hold
nuclei of all six classes (class 5 = Eosinophil), non-contiguous ids, and one id listed in the .mat file but
absent from its map (as for nuclei cropped at the border of the real release).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
from PIL import Image

#: name, source, Lizard fold: every fold and both sides of the GlaS Center-Split are non-empty
IMAGES = (
    ("consep_1", "consep", 1),
    ("consep_2", "consep", 2),
    ("crag_1", "crag", 3),
    ("dpath_1", "dpath", 1),
    ("glas_1", "glas", 2),
    ("glas_2", "glas", 3),
    ("pannuke_1", "pannuke", 1),
    ("pannuke_2", "pannuke", 2),
)
SHAPE = (96, 128)
TILE = 64


def _nuclei(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    inst = np.zeros(shape, dtype=np.int32)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    ids, classes = [], []
    for k in range(int(rng.integers(12, 20))):
        cy, cx, r = rng.integers(4, shape[0] - 4), rng.integers(4, shape[1] - 4), rng.integers(2, 6)
        label = 3 * k + int(rng.integers(1, 3))  # sparse ids, as in the release
        inst[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = label
        ids.append(label)
        classes.append(k % 6 + 1)
    ids.append(10_000)  # listed, but cropped away from the map
    classes.append(5)
    return inst, np.array(ids, dtype=np.int64), np.array(classes, dtype=np.int64)


def make_lizard(out: Path, *, seed: int = 0, images: tuple = IMAGES, shape: tuple[int, int] = SHAPE) -> Path:
    """Write the tiny Lizard export to ``out``; returns ``out``."""
    rng = np.random.default_rng(seed)
    out = Path(out)
    labels = out / "Lizard_Labels" / "Labels"
    labels.mkdir(parents=True)
    for i, (name, _, _) in enumerate(images):
        folder = out / ("Lizard_Images1" if i % 2 == 0 else "Lizard_Images2")
        folder.mkdir(exist_ok=True)
        inst, ids, classes = _nuclei(rng, shape)
        rgb = rng.integers(150, 230, (*shape, 3)).astype(np.uint8)
        rgb[inst > 0] = (90, 40, 140)
        Image.fromarray(rgb).save(folder / f"{name}.png")
        present = np.isin(ids, inst)
        bbox = np.zeros((len(ids), 4), dtype=np.int64)
        centroid = np.zeros((len(ids), 2), dtype=np.float64)
        for j, label in enumerate(ids):
            if present[j]:
                ys, xs = np.nonzero(inst == label)
                bbox[j] = (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)
                centroid[j] = (xs.mean(), ys.mean())
        scipy.io.savemat(
            labels / f"{name}.mat",
            {
                "inst_map": inst,
                "id": ids[:, None],
                "class": classes[:, None],
                "bbox": bbox,
                "centroid": centroid,
            },
        )
    info = pd.DataFrame([{"Filename": n, "Source": s, "Split": f} for n, s, f in images])
    info.to_csv(out / "Lizard_Labels" / "info.csv", index=False)
    return out


if __name__ == "__main__":
    make_lizard(Path(sys.argv[1]))
