"""Seeded generator of a tiny Arctique export in either released layout (style rule 6).

``layout="generator"``: ``{train,test}/images/img_<i>.png``, ``masks/{semantic,instance}_indexing/<i>.tif``,
``metadata/metadata_<i>.json``; ``layout="flat"``: the PhenoBench authors' ``images/img_<i>.png`` with
``masks/{semantic,instance}/<i>.png``. Images are not square, so a transposed read cannot go unnoticed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

SHAPE = (96, 128)
TILE = 64
TYPES = ("Epithelial", "Plasma", "Lymphocyte", "Eosinophil", "Fibroblast")


def _sample(
    rng: np.random.Generator, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    instance = np.zeros(shape, dtype=np.uint16)
    semantic = np.zeros(shape, dtype=np.uint8)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    cells = []
    for k in range(1, int(rng.integers(8, 14))):
        cy, cx, r = rng.integers(4, shape[0] - 4), rng.integers(4, shape[1] - 4), rng.integers(2, 6)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        cls = (k - 1) % 5 + 1
        instance[disc], semantic[disc] = k, cls
        cells.append({"ID": k, "ID_Type": cls, "Type": TYPES[cls - 1]})
    present = set(np.unique(instance).tolist())
    cells = [c for c in cells if c["ID"] in present]
    image = rng.integers(150, 230, (*shape, 3)).astype(np.uint8)
    image[instance > 0] = (90, 40, 140)
    return image, semantic, instance, cells


def make_arctique(
    out: Path, *, seed: int = 0, layout: str = "generator", counts: tuple[int, int] = (5, 2), shape=SHAPE
) -> Path:
    """Write ``counts`` = (train, test) images (flat: their sum, at the top) to ``out``; returns ``out``."""
    rng = np.random.default_rng(seed)
    out = Path(out)
    parts = {"train": counts[0], "test": counts[1]} if layout == "generator" else {"": sum(counts)}
    for part, n in parts.items():
        root = out / part
        for i in range(n):
            image, semantic, instance, cells = _sample(rng, shape)
            (root / "images").mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / "images" / f"img_{i}.png")
            if layout == "generator":
                for sub, arr in (("semantic_indexing", semantic), ("instance_indexing", instance)):
                    (root / "masks" / sub).mkdir(parents=True, exist_ok=True)
                    tifffile.imwrite(root / "masks" / sub / f"{i}.tif", arr)
                (root / "metadata").mkdir(exist_ok=True)
                (root / "metadata" / f"metadata_{i}.json").write_text(json.dumps({"cell_info": cells}))
            else:
                for sub, arr in (("semantic", semantic), ("instance", instance)):
                    (root / "masks" / sub).mkdir(parents=True, exist_ok=True)
                    Image.fromarray(arr).save(root / "masks" / sub / f"{i}.png")
    return out


if __name__ == "__main__":
    make_arctique(Path(sys.argv[1]))
