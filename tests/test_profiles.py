"""Acceptance 2: dataset profiles declare each class once; Lizard's class 5 is Eosinophil."""

from __future__ import annotations

from dataclasses import replace

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


def test_lizard_class_5_is_eosinophil() -> None:
    assert LIZARD.class_names[5] == "Eosinophil"
    assert LIZARD.class_names[1:] == (
        "Neutrophil",
        "Epithelial",
        "Lymphocyte",
        "Plasma",
        "Eosinophil",
        "Connective tissue",
    )


def test_phenocell_profile_feeds_the_schema() -> None:
    assert CLASS_NAMES is PHENOCELL.class_names and CLASS_COLORS is PHENOCELL.class_colors
    assert features_for(PHENOCELL) == FEATURES
    assert features_for(LIZARD)["cells"].feature["label"].names == list(LIZARD.class_names)


def test_unknown_profile_lists_the_valid_ones() -> None:
    assert get_profile(None) is PHENOCELL
    with pytest.raises(InvalidOptionError, match="'arctique'"):
        get_profile("consep")
