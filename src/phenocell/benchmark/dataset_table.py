"""``benchmark compare`` across datasets: one column per dataset (and per shift family of one).

A column is named after the run's dataset (its profile) for the dataset's standard family (the first of
its profile's families: PhenoCell ``base``, Lizard ``rotation1``, PanNuke ``standard`` (the authors' train
F3 / validation F1 / test F2), Arctique ``base``), and ``<dataset> <family>`` for any other family (e.g.
``lizard holdout_glas``, the GlaS shift). Rows are encoder / head pairs; cells are the test ``metric``. The
published supervised baseline (each profile's ``published``) follows the table.
"""

from __future__ import annotations

from typing import Any

from phenocell.benchmark.data_protocol import FOOTNOTE, mark
from phenocell.profiles import DEFAULT_PROFILE, PROFILES, get_profile


def column(dataset: str, family: str) -> str:
    """The compare-table column of ``dataset``'s ``family``: the dataset alone for its standard family."""
    standard = get_profile(dataset).families[0]
    return dataset if family == standard else f"{dataset} {family}"


def column_of(doc: dict[str, Any]) -> str:
    """The compare-table column of a run."""
    return column(doc.get("dataset", DEFAULT_PROFILE), doc["family"])


def published_line() -> str:
    """The supervised baseline's published test macro F1 of every profile that has one, by column."""
    published = [(column(p.name, fam), v) for p in PROFILES.values() for fam, v in p.published]
    return "Published supervised baseline (PhenoBench, test macro F1): " + ", ".join(
        f"{c} {v:.3f}" for c, v in published
    )


def dataset_table(docs: list[dict[str, Any]], metric: str) -> str:
    """Markdown: test ``metric`` per encoder / head (rows) and dataset (columns)."""
    columns: list[str] = []
    table: dict[tuple[str, str], dict[str, float | None]] = {}
    marks: dict[tuple[str, str, str], str] = {}
    for doc in docs:
        column = column_of(doc)
        if column not in columns:
            columns.append(column)
        value = doc["metrics"]["test"].get(metric)  # None: a metric the run's mode has not (cells: pixels)
        table.setdefault((doc["encoder"], doc["head"]), {})[column] = None if value is None else float(value)
        marks[(doc["encoder"], doc["head"], column)] = mark(doc)
    rank = {name: i for i, name in enumerate(PROFILES)}
    columns.sort(key=lambda c: (rank.get(c.split()[0], len(rank)), c.split()[0], " " in c, c))
    lines = [
        f"## test {metric} per dataset",
        "",
        "| encoder | head | " + " | ".join(columns) + " |",
        "|---|---|" + "---:|" * len(columns),
    ]
    for (enc, head), values in sorted(table.items()):
        cells = [
            f"{values[c]:.4f}{marks[(enc, head, c)]}" if values.get(c) is not None else "—" for c in columns
        ]
        lines.append(f"| {enc} | {head} | " + " | ".join(cells) + " |")
    lines += ["", published_line() + "."]
    if any(marks.values()):
        lines += ["", FOOTNOTE]
    return "\n".join(lines) + "\n"
