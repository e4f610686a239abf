"""Acceptance 2: dataset profiles declare each class once; Lizard's class 5 is Eosinophil."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import datasets
import pytest

from phenocell.errors import InvalidInputError, InvalidOptionError
from phenocell.profiles import LIZARD, PHENOCELL, PROFILES, get_profile
from phenocell.schema import CLASS_COLORS, CLASS_NAMES, FEATURES, features_for


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_no_profile_repeats_a_class_name(name: str) -> None:
    profile = PROFILES[name]
    profile.validate()
    folded = [n.casefold() for n in profile.class_names]
    assert len(folded) == len(set(folded))
    assert profile.class_names[0] == "Background"
    assert len(profile.class_colors) == len(profile.class_names)


def test_the_lizard_readme_misprint_is_caught() -> None:
    misprinted = replace(LIZARD, class_names=(*LIZARD.class_names[:5], "Neutrophil", *LIZARD.class_names[6:]))
    with pytest.raises(InvalidInputError, match="repeated class names"):
        misprinted.validate()


#: Lizard's classes 1..6 as its README lists them (class 5 fixed: the README misprints "Neutrophil").
LIZARD_CLASSES = ("Neutrophil", "Epithelial", "Lymphocyte", "Plasma", "Eosinophil", "Connective tissue")


def test_lizard_class_5_is_eosinophil() -> None:
    assert LIZARD.class_names[5] == "Eosinophil"
    assert LIZARD.class_names[1:] == LIZARD_CLASSES


def _plain(feature: Any) -> Any:
    """A feature as literals: a dtype string, "image", ("class", names), [item] or {name: feature}."""
    if isinstance(feature, datasets.Value):
        return feature.dtype
    if isinstance(feature, datasets.Image):
        return "image"
    if isinstance(feature, datasets.ClassLabel):
        return ("class", tuple(feature.names))
    if isinstance(feature, datasets.List):
        return [_plain(feature.feature)]
    return {name: _plain(value) for name, value in feature.items()}


#: The 14 PhenoCell classes as the README and the paper list them (id 0 = Background).
PHENOCELL_CLASSES = (
    "Background",
    "B cells",
    "Macrophages/Monocytes",
    "Adipocytes",
    "Dendritic cells",
    "T cells",
    "Granulocytes",
    "NK cells",
    "Nerves",
    "Plasma cells",
    "Smooth muscle",
    "Stroma",
    "Tumor cells",
    "Vasculature/Lymphatics",
    "Other cells",
)


def _row_schema(classes: tuple[str, ...]) -> dict[str, Any]:
    box = {"x": "int32", "y": "int32", "width": "int32", "height": "int32"}
    cell = {
        "instance_id": "uint16",
        "cell_id": "int64",
        "label": ("class", classes),
        "granular_name": "string",
        "centroid_x": "float32",
        "centroid_y": "float32",
        "area": "int32",
        "markers": ["float32"],
    }
    return {
        "tile_id": "string",
        "image": "image",
        "instance_mask": "image",
        "semantic_mask": "image",
        "cells": [cell],
        "fov": "string",
        "patient": "string",
        "group": "string",
        "tumor_type": ("class", ("adenocarcinoma", "mucinous")),
        "stage": "int8",
        "tile_x": "int32",
        "tile_y": "int32",
        "tile_size": "int32",
        "valid": box,
        "mpp": "float32",
    }


def test_phenocell_profile_feeds_the_schema() -> None:
    assert CLASS_NAMES == PHENOCELL_CLASSES and CLASS_COLORS is PHENOCELL.class_colors
    assert _plain(FEATURES) == _row_schema(PHENOCELL_CLASSES)  # names, nesting and dtypes, written out
    assert _plain(features_for(LIZARD)) == _row_schema(("Background", *LIZARD_CLASSES))


def test_unknown_profile_lists_the_valid_ones() -> None:
    assert get_profile(None) is PHENOCELL
    with pytest.raises(InvalidOptionError, match="'arctique'"):
        get_profile("consep")


def test_a_published_score_names_one_of_the_profiles_families() -> None:
    misnamed = replace(LIZARD, published=(("holdout_nope", 0.5),))
    with pytest.raises(InvalidInputError, match=r"published scores for families \['holdout_nope'\]"):
        misnamed.validate()


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_carries_its_card_and_benchmark_facts(name: str) -> None:
    profile = PROFILES[name]
    assert profile.citation.startswith("@article{phenobench") and profile.citation.count("@") == 2
    assert {"histopathology", "H&E", "cell-phenotyping"} <= set(profile.tags)
    config = profile.authors_config
    assert config.file == f"configs/config_unetr_{'schuerch' if name == 'phenocell' else name}.yaml"
    assert (config.warmup, config.early_stop, config.loss) == (1000, 1200, "cross_entropy")
