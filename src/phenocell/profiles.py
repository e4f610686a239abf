"""Dataset profiles: the class list, colours, pixel size and licence of each dataset, declared once.

A profile is what differs between the datasets PhenoBench scores (PhenoCell, Lizard, PanNuke, Arctique);
everything else (schema columns, shards, card, splits file) is shared. The schema, the card, QC and the
benchmark read the profile named in a dataset's ``manifest.json`` (absent = PhenoCell, the default, whose
output is unchanged by the other profiles' existence).

Facts of the public releases (their READMEs and the PhenoBench authors' readers in
Kainmueller-Lab/Bio-Image-Datasets, ``lizard_dataset.py``, ``pannuke_dataset.py``, ``arctique_dataset.py``):

- Lizard: classes 1 Neutrophil, 2 Epithelial, 3 Lymphocyte, 4 Plasma, 5 Eosinophil, 6 Connective tissue
  (the Lizard README lists class 5 as a second "Neutrophil"; the authors' reader and the paper say
  Eosinophil). 20x, about 0.5 µm/px; CC BY-NC-SA 4.0.
- PanNuke: ``masks.npy`` channels 0 Neoplastic, 1 Inflammatory, 2 Connective/Soft tissue, 3 Dead,
  4 Epithelial, 5 background. We keep the channel order (class id = channel + 1); the authors' reader
  flips it (1 Epithelial ... 5 Neoplastic). 40x, 0.25 µm/px; CC BY-NC-SA 4.0.
- Arctique (synthetic): 1 Epithelial, 2 Plasma cells, 3 Lymphocytes, 4 Eosinophils, 5 Fibroblasts;
  about 0.25 µm/px.
"""

from __future__ import annotations

from dataclasses import dataclass

from phenocell.errors import InvalidInputError, check_choice

Color = tuple[int, int, int]


@dataclass(frozen=True)
class DatasetProfile:
    """What one dataset declares: its classes (id = position, 0 = Background) and provenance.

    Attributes:
        name: profile key (``--source`` value and ``manifest.json``'s ``profile``).
        pretty_name: the card's title.
        class_names: names by class id; id 0 is ``Background``.
        class_colors: an RGB display colour per class id.
        mpp: native pixel size (µm/px) of the released images.
        license: SPDX-style licence id for the card.
        class_order: how the ids relate to the release's own numbering.
        families: the split families of the card's default config, in order.
        homepage: where the release is published.
    """

    name: str
    pretty_name: str
    class_names: tuple[str, ...]
    class_colors: tuple[Color, ...]
    mpp: float
    license: str
    class_order: str
    families: tuple[str, ...]
    homepage: str

    @property
    def num_classes(self) -> int:
        """Cell classes, background excluded."""
        return len(self.class_names) - 1

    def validate(self) -> None:
        """Raise when the class list is malformed (repeated names, colours missing, no background)."""
        names = [n.casefold() for n in self.class_names]
        repeated = sorted({n for n in names if names.count(n) > 1})
        problems = [f"repeated class names {repeated}"] if repeated else []
        if len(self.class_colors) != len(self.class_names):
            problems.append(f"{len(self.class_colors)} colours for {len(self.class_names)} classes")
        if not self.class_names or self.class_names[0] != "Background":
            problems.append("class 0 is not 'Background'")
        if problems:
            raise InvalidInputError(
                f"dataset profile {self.name!r} is malformed",
                expected="unique class names, one colour each, class 0 = Background",
                found="; ".join(problems),
                fix="fix the profile's class list in phenocell/profiles.py",
            )


_TAB10: tuple[Color, ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
)

PHENOCELL = DatasetProfile(
    name="phenocell",
    pretty_name="PhenoCell",
    class_names=(
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
    ),
    class_colors=(
        (0, 0, 0),
        (31, 119, 180),
        (255, 127, 14),
        (255, 255, 153),
        (148, 103, 189),
        (44, 160, 44),
        (214, 39, 40),
        (23, 190, 207),
        (188, 189, 34),
        (140, 86, 75),
        (227, 119, 194),
        (174, 199, 232),
        (255, 0, 255),
        (152, 223, 138),
        (127, 127, 127),
    ),
    mpp=0.377442,
    license="cc-by-4.0",
    class_order="the authors' public release (ids 1..14)",
    families=("base", "tumor_type", "tumor_stage"),
    homepage="https://github.com/Kainmueller-Lab/Pathology-Foundation-Model-Benchmark",
)

LIZARD = DatasetProfile(
    name="lizard",
    pretty_name="Lizard (PhenoCell schema)",
    class_names=(
        "Background",
        "Neutrophil",
        "Epithelial",
        "Lymphocyte",
        "Plasma",
        "Eosinophil",
        "Connective tissue",
    ),
    class_colors=((0, 0, 0), *_TAB10),
    mpp=0.5,
    license="cc-by-nc-sa-4.0",
    class_order="Lizard's own `class` values 1..6 (class 5 = Eosinophil)",
    families=(
        "rotation1",
        "rotation2",
        "rotation3",
        "holdout_consep",
        "holdout_crag",
        "holdout_dpath",
        "holdout_glas",
        "holdout_pannuke",
    ),
    homepage="https://warwick.ac.uk/fac/cross_fac/tia/data/lizard",
)

PANNUKE = DatasetProfile(
    name="pannuke",
    pretty_name="PanNuke (PhenoCell schema)",
    class_names=("Background", "Neoplastic", "Inflammatory", "Connective/Soft tissue", "Dead", "Epithelial"),
    class_colors=((0, 0, 0), *_TAB10[:5]),
    mpp=0.25,
    license="cc-by-nc-sa-4.0",
    class_order="masks.npy channel + 1 (the PhenoBench authors' reader reverses it: 1 Epithelial ...)",
    families=("standard", "rotation1", "rotation2", "rotation3"),
    homepage="https://warwick.ac.uk/fac/cross_fac/tia/data/pannuke",
)

ARCTIQUE = DatasetProfile(
    name="arctique",
    pretty_name="Arctique (PhenoCell schema)",
    class_names=("Background", "Epithelial", "Plasma cells", "Lymphocytes", "Eosinophils", "Fibroblasts"),
    class_colors=((0, 0, 0), *_TAB10[:5]),
    mpp=0.25,
    license="cc-by-4.0",
    class_order="Arctique's semantic-mask values 1..5",
    families=("base",),
    homepage="https://zenodo.org/records/14016860",
)

PROFILES: dict[str, DatasetProfile] = {p.name: p for p in (PHENOCELL, LIZARD, PANNUKE, ARCTIQUE)}
DEFAULT_PROFILE = PHENOCELL.name


def get_profile(name: str | None) -> DatasetProfile:
    """The profile called ``name`` (``None`` = PhenoCell); an unknown name lists the valid ones."""
    key = DEFAULT_PROFILE if name is None else name
    check_choice("dataset profile", key, PROFILES)
    return PROFILES[key]
