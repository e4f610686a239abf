"""Options of ``phenocell cells embed`` and ``phenocell cells classify``, declared once.

The CLI (:mod:`phenocell.cli_cells`) derives its defaults and choices from these fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from phenocell.benchmark.config import check_device_spec
from phenocell.errors import InvalidOptionError, check_choice, check_literal_fields

Pooling = Literal["mean", "center"]
Classifier = Literal["logreg", "knn", "rf"]
SPLIT_NAMES = ("train", "validation", "test")


def _at_least(name: str, value: int, low: int) -> None:
    if value < low:
        raise InvalidOptionError(
            f"{name} out of range",
            expected=f"an integer >= {low}",
            found=str(value),
            fix=f"pass a valid --{name.replace('_', '-')}",
        )


@dataclass
class EmbedConfig:
    """How ``cells embed`` pools tokens and reads tiles.

    ``pooling``: ``mean`` averages the final-normed patch tokens weighted by each cell's pixels in each patch
    (over every tile the cell touches); ``center`` takes the token under the cell's centroid. ``splits``:
    comma-separated splits of the family to embed. ``device``: ``auto`` (CUDA when present), ``cpu``,
    ``cuda`` or ``cuda:N``; ``workers``: DataLoader processes decoding tiles; ``batch_size``: tiles per
    encoder batch.
    """

    pooling: Pooling = "mean"
    splits: str = ",".join(SPLIT_NAMES)
    batch_size: int = 16
    workers: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        check_literal_fields(self)
        for split in self.split_list():
            check_choice("splits", split, SPLIT_NAMES)
        _at_least("batch_size", self.batch_size, 1)
        _at_least("workers", self.workers, 0)
        check_device_spec(self.device)

    def split_list(self) -> tuple[str, ...]:
        """The chosen splits, in the order given (empty names dropped)."""
        return tuple(s.strip() for s in self.splits.split(",") if s.strip())


@dataclass
class ClassifyConfig:
    """Which scikit-learn classifier ``cells classify`` trains, and its seed (see :mod:`.classify`'s grid)."""

    classifier: Classifier = "logreg"
    seed: int = 42

    def __post_init__(self) -> None:
        check_literal_fields(self)
