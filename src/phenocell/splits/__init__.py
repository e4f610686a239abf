"""Split families (Base / Tumor-Type / Tumor-Stage, extras): drawn or read from files, validated, stored."""

from phenocell.splits.families import authors_region_split, make_splits, nested_subset
from phenocell.splits.rules import (
    ALL_FAMILIES,
    BASE_BY,
    DATA_EFFICIENCY,
    EXTRA_FAMILIES,
    FAMILIES,
    SPLITS,
    BaseBy,
    Splits,
)
from phenocell.splits.validate import validate_splits

__all__ = [
    "ALL_FAMILIES",
    "BASE_BY",
    "DATA_EFFICIENCY",
    "EXTRA_FAMILIES",
    "FAMILIES",
    "SPLITS",
    "BaseBy",
    "Splits",
    "authors_region_split",
    "make_splits",
    "nested_subset",
    "validate_splits",
]
