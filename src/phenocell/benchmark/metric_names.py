"""The scores of a benchmark split, named once (torch-free, so the CLI can offer them as choices).

Each name is a key of ``results.json``'s ``metrics.<split>``, a ``--selection`` and ``benchmark compare
--metric`` choice and a report column; :mod:`phenocell.benchmark.metrics` defines what each one measures.
``PER_CLASS`` names the per-class table that goes with each score.
"""

from __future__ import annotations

from typing import Literal, get_args

Metric = Literal["cell_macro_f1", "cell_macro_f1_unique", "pixel_macro_f1", "dice_macro"]
METRICS: tuple[str, ...] = get_args(Metric)
#: The authors' cell-fragment F1, ours per unique cell, per FoV pixel, and Vitoria et al.'s pooled Dice.
CELL_F1, CELL_F1_UNIQUE, PIXEL_F1, DICE = METRICS
PER_CLASS: dict[str, str] = {
    CELL_F1: "cell_per_class_f1",
    CELL_F1_UNIQUE: "cell_unique_per_class_f1",
    PIXEL_F1: "pixel_per_class_f1",
    DICE: "dice_per_class",
}


def header(metrics: tuple[str, ...] = METRICS) -> list[str]:
    """A markdown table header of ``split`` and ``metrics`` (the authors' metric marked), and its rule."""
    names = [f"{m} (authors')" if m == CELL_F1 else m for m in metrics]
    return ["| split | " + " | ".join(names) + " |", "|---|" + "---:|" * len(metrics)]
