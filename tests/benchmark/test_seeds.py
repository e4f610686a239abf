"""Several seeds: the seed list, mean ± std summaries and ranks that account for the spread."""

from __future__ import annotations

import pytest

from phenocell.benchmark.seeds import mean_std, seed_list, spread_ranks, spread_table, summarise
from phenocell.errors import InvalidOptionError


def test_seed_list_from_a_count_or_a_list() -> None:
    assert seed_list([42], 3) == [42, 43, 44]
    assert seed_list([7, 1, 3], 1) == [7, 1, 3] == seed_list([7, 1, 3], 3)
    with pytest.raises(InvalidOptionError, match="disagree"):
        seed_list([1, 2], 3)
    with pytest.raises(InvalidOptionError, match="repeated seed"):
        seed_list([1, 1], 1)


def test_mean_and_sample_std_by_hand() -> None:
    assert mean_std([0.2, 0.4, 0.6]) == pytest.approx((0.4, 0.2))  # var = (0.04 + 0 + 0.04) / 2
    assert mean_std([0.5]) == (0.5, 0.0)


def test_ranks_share_places_where_spreads_overlap() -> None:
    # A 0.60 ± 0.01 is clearly ahead of C (0.59 > 0.55); B 0.58 ± 0.03 overlaps A and C; C 0.53 ± 0.02
    assert spread_ranks([(0.60, 0.01), (0.58, 0.03), (0.53, 0.02)]) == ["1-2", "1-3", "2-3"]
    assert spread_ranks([(0.9, 0.0), (0.5, 0.0), (0.1, 0.0)]) == ["1", "2", "3"]
    assert spread_ranks([(0.5, 0.1), (0.5, 0.1)]) == ["1-2", "1-2"]


def _doc(seed: int, cell: float, dice: float, encoder: str = "e") -> dict:
    scores = {"cell_macro_f1": cell, "cell_macro_f1_unique": cell, "pixel_macro_f1": cell, "dice_macro": dice}
    per_class = {"dice_per_class": {"Background": 0.9, "A": dice, "B": None}}
    split = {**scores, **per_class}
    return {
        "encoder": encoder,
        "head": "constant",
        "family": "base",
        "dataset": "phenocell",
        "seed": seed,
        "protocol": {"preset": {"name": "vitoria"}},
        "metrics": {"validation": split, "test": split},
    }


def test_summary_means_stds_and_per_seed_values() -> None:
    doc = summarise([_doc(1, 0.2, 0.5), _doc(2, 0.4, 0.7)], ["seed-1", "seed-2"])
    assert doc["seeds"] == [1, 2] and doc["runs"] == ["seed-1", "seed-2"]
    assert doc["metrics"]["test"]["cell_macro_f1"] == pytest.approx(0.3)
    assert doc["metrics_std"]["test"]["dice_macro"] == pytest.approx(0.1414213, rel=1e-5)  # sqrt(0.02)
    assert doc["metrics"]["test"]["dice_per_class"] == pytest.approx({"Background": 0.9, "A": 0.6, "B": None})
    assert doc["metrics_per_seed"]["test"]["dice_macro"] == [0.5, 0.7]


def test_spread_table_ranks_runs_of_one_family() -> None:
    a = summarise([_doc(1, 0.60, 0.5, "a"), _doc(2, 0.62, 0.5, "a")], ["s1", "s2"])
    b = summarise([_doc(1, 0.30, 0.5, "b"), _doc(2, 0.31, 0.5, "b")], ["s1", "s2"])
    table = spread_table([b, a], "cell_macro_f1")
    rows = [line for line in table.splitlines() if line.startswith("| phenocell")]
    assert rows[0].startswith("| phenocell | base | a | constant | 2 | 0.6100 ± 0.0141 | 1 |")
    assert rows[1].endswith("| 0.3050 ± 0.0071 | 2 |")
    assert spread_table([_doc(1, 0.5, 0.5)], "cell_macro_f1") == ""  # single seeds: no spread table
