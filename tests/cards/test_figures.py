"""Card figures: outlines as scikit-image draws them (without it); the class histogram's log scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageColor
from skimage.segmentation import find_boundaries

from phenocell.cards.figures import inner_edges
from phenocell.cards.histogram import SPLIT_COLOURS, class_histogram
from phenocell.cards.summary import DatasetSummary
from phenocell.splits import SPLITS


@pytest.mark.parametrize("dtype", [np.uint16, np.int64])
@pytest.mark.parametrize("shape", [(37, 53), (1, 9), (9, 1), (2, 2)])
def test_inner_edges_equal_find_boundaries_inner(shape: tuple[int, int], dtype: type) -> None:
    rng = np.random.default_rng(sum(shape))
    for block in (1, 3, 7):  # speckle, small and larger cells, touching each other and the image edge
        coarse = rng.integers(0, 6, (shape[0] // block + 1, shape[1] // block + 1))
        instance = np.kron(coarse, np.ones((block, block), dtype=np.int64))[: shape[0], : shape[1]].astype(
            dtype
        )
        assert np.array_equal(inner_edges(instance), find_boundaries(instance, mode="inner"))


def _bars(panel: np.ndarray, colour: tuple[int, int, int]) -> list[int]:
    """Top pixel row of each bar of one colour, left to right: runs of columns that hold the colour from
    the panel's floor up (the floor: the lowest row holding it; a legend swatch does not reach it)."""
    hit = (panel == colour).all(axis=2)
    floor = int(np.flatnonzero(hit.any(axis=1))[-1])
    columns = np.flatnonzero(hit[floor])
    runs = np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1)
    return [floor - int(np.argmin(hit[floor::-1, run].all(axis=1))) + 1 for run in runs]


def test_class_histogram_draws_each_split_on_one_log_scale(dataset_dir: Path, tmp_path: Path) -> None:
    summary = DatasetSummary.from_dir(dataset_dir)
    class_histogram(summary, tmp_path / "h.png")
    image = np.asarray(Image.open(tmp_path / "h.png").convert("RGB"))
    families, classes = summary.card_families(), len(summary.profile.class_names) - 1
    assert image.shape[1] % len(families) == 0
    panels = np.split(image, len(families), axis=1)
    rows, logs = [], []
    for family, panel in zip(families, panels, strict=True):
        for split, colour in zip(SPLITS, SPLIT_COLOURS, strict=True):
            tops = _bars(panel, ImageColor.getrgb(colour))
            counts = summary.class_counts(family, split)
            assert len(tops) == classes  # every class has a bar, an empty one a stub
            rows += tops
            logs += [np.log10(max(counts.get(c, 0), 0.8)) for c in range(1, classes + 1)]
    slope, offset = np.polyfit(logs, rows, 1)  # one log axis for every panel: rows linear in log counts
    assert slope < 0
    assert np.abs(np.asarray(rows) - (slope * np.asarray(logs) + offset)).max() <= 1.0
