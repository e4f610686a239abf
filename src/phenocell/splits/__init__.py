"""Split families (Base / Tumor-Type / Tumor-Stage): patient-disjoint, seeded, validated, stored as data."""

from phenocell.splits.families import (
    ALL_FAMILIES,
    BASE_BY,
    EXTRA_FAMILIES,
    FAMILIES,
    SPLITS,
    BaseBy,
    Splits,
    make_splits,
    nested_subset,
    validate_splits,
)

__all__ = [
    "ALL_FAMILIES",
    "BASE_BY",
    "EXTRA_FAMILIES",
    "FAMILIES",
    "SPLITS",
    "BaseBy",
    "Splits",
    "make_splits",
    "nested_subset",
    "validate_splits",
]
