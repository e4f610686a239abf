"""Write split files in the authors' format (``sample_name,train_test_val_split``), for tests and demos.

Layout written (the one :mod:`phenocell.splits.authors` reads)::

    DIR/splits/schuerch_dataset_split.csv
    DIR/splits/data_efficiency_splits/split_<p>_percent_train.csv
    DIR/domain_splits/schuerch_<...>_test.csv
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from phenocell.splits.authors import BASE_FILE, DOMAIN_FILES, SAMPLE_COLUMN, SPLIT_COLUMN

_NAMES = {"train": "train", "validation": "valid", "test": "test"}


def write_split_csv(path: Path, parts: dict[str, list[str]]) -> Path:
    """One split file: a row per FoV, sample names like ``reg002_A.hdf``, sorted as the authors'."""
    rows = [(f"{fov}.hdf", _NAMES[split]) for split, fovs in parts.items() for fov in fovs]
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=[SAMPLE_COLUMN, SPLIT_COLUMN]).sort_values(SAMPLE_COLUMN)
    frame.to_csv(path, index=False)
    return path


def write_authors_splits(directory: Path, families: dict[str, dict[str, list[str]]]) -> Path:
    """Write ``families`` (``base``, domain families, ``base_<p>pct``) in the authors' layout."""
    directory = Path(directory)
    domain = {family: name for name, family in DOMAIN_FILES.items()}
    for family, parts in families.items():
        if family == "base":
            path = directory / "splits" / BASE_FILE
        elif family in domain:
            path = directory / "domain_splits" / domain[family]
        else:
            pct = family.removeprefix("base_").removesuffix("pct")
            path = directory / "splits" / "data_efficiency_splits" / f"split_{pct}_percent_train.csv"
        write_split_csv(path, parts)
    return directory
