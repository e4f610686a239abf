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

Each profile also carries what the card cites and tags, the supervised baseline's published test macro F1
(PhenoBench), and the authors' training config for the dataset (Kainmueller-Lab/Pathology-Foundation-Model-
Benchmark, ``configs/config_unetr_<dataset>.yaml``). Where the paper's text and the configs disagree, the
config is the default: the paper says the heads trained "for 10k steps with early stopping";
``config_unetr_schuerch.yaml`` says 20000. PanNuke's config anneals over ``T_max`` 10000 while it trains
20000 steps (the cosine climbs back after step 10000 + warm-up), and we keep that too.
"""

from __future__ import annotations

from dataclasses import dataclass

from phenocell.errors import InvalidInputError, check_choice

Color = tuple[int, int, int]
AUTHORS_REPOSITORY = "Kainmueller-Lab/Pathology-Foundation-Model-Benchmark"


@dataclass(frozen=True)
class ReferenceConfig:
    """One of the authors' config files: the values that differ between datasets.

    Attributes:
        file: the config's path in the authors' repository.
        steps: ``training_steps``.
        batch_size: ``dataset.batch_size``.
        warmup: ``optimizer.warmup_steps`` (``LinearLR`` warm-up).
        t_max: ``scheduler.params.T_max`` of ``CosineAnnealingLR``.
        eta_min: ``scheduler.params.eta_min``.
        early_stop: ``early_stopping`` (steps without a better validation score).
        encoder_training: ``frozen`` (the paper's text) or ``trainable`` (``unfreeze_backbone: true``).
        loss: ``cross_entropy`` (the heads' class-weighted CE) or ``focal`` (α 1, γ 2, mean reduction).
    """

    file: str
    steps: int
    batch_size: int
    warmup: int
    t_max: int
    eta_min: float
    early_stop: int
    encoder_training: str = "frozen"
    loss: str = "cross_entropy"

    @property
    def cite(self) -> str:
        """``repository (file)``: how results.json names the reference."""
        return f"{AUTHORS_REPOSITORY} ({self.file})"


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
        citation: the card's BibTeX (PhenoBench, then the release's own paper).
        tags: the card's Hub tags.
        authors_config: the authors' training config for this dataset (the benchmark's defaults).
        published: the supervised baseline's published test macro F1 (PhenoBench) per split family.
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
    citation: str
    tags: tuple[str, ...]
    authors_config: ReferenceConfig
    published: tuple[tuple[str, float], ...] = ()

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
        unknown = sorted({fam for fam, _ in self.published} - set(self.families))
        if unknown:
            problems.append(f"published scores for families {unknown} not among {list(self.families)}")
        if problems:
            raise InvalidInputError(
                f"dataset profile {self.name!r} is malformed",
                expected="unique class names, one colour each, class 0 = Background, known families",
                found="; ".join(problems),
                fix="fix the profile in phenocell/profiles.py",
            )


_TAB10: tuple[Color, ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
)

_PHENOBENCH_BIB = """@article{phenobench,
  title   = {PhenoBench: A Comprehensive Benchmark for Cell Phenotyping},
  author  = {Kainmueller lab and collaborators},
  journal = {arXiv preprint},
  year    = {2025}
}"""
_NUCLEUS_TAGS = ("histopathology", "H&E", "nuclei", "cell-phenotyping", "panoptic-segmentation")


def _config(file: str, steps: int, batch_size: int, t_max: int, eta_min: float) -> ReferenceConfig:
    """A ``configs/config_unetr_<dataset>.yaml`` row: every one warms up 1000 steps and stops after 1200."""
    return ReferenceConfig(f"configs/{file}", steps, batch_size, 1000, t_max, eta_min, 1200)


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
    citation=_PHENOBENCH_BIB
    + """
@article{schurch2020,
  title   = {Coordinated Cellular Neighborhoods Orchestrate Antitumoral Immunity at the Colorectal Cancer
             Invasive Front},
  author  = {Sch{\\"u}rch, Christian M. and others},
  journal = {Cell},
  volume  = {182},
  year    = {2020}
}""",
    tags=("histopathology", "H&E", "CODEX", "cell-phenotyping", "panoptic-segmentation", "colorectal-cancer"),
    authors_config=_config("config_unetr_schuerch.yaml", 20000, 128, 20000, 1e-6),
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
    citation=_PHENOBENCH_BIB
    + """
@inproceedings{lizard,
  title     = {Lizard: A Large-Scale Dataset for Colonic Nuclear Instance Segmentation and Classification},
  author    = {Graham, Simon and others},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision Workshops},
  year      = {2021}
}""",
    tags=_NUCLEUS_TAGS,
    authors_config=_config("config_unetr_lizard.yaml", 10000, 64, 10000, 1e-7),
    published=(("rotation1", 0.725), ("holdout_glas", 0.639)),
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
    citation=_PHENOBENCH_BIB
    + """
@inproceedings{pannuke,
  title     = {PanNuke: An Open Pan-Cancer Histology Dataset for Nuclei Instance Segmentation and
               Classification},
  author    = {Gamper, Jevgenij and others},
  booktitle = {European Congress on Digital Pathology},
  year      = {2019}
}""",
    tags=_NUCLEUS_TAGS,
    authors_config=_config("config_unetr_pannuke.yaml", 20000, 64, 10000, 1e-7),
    published=(("standard", 0.784),),
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
    citation=_PHENOBENCH_BIB
    + """
@inproceedings{arctique,
  title     = {Arctique: An artificial histopathological dataset unifying realism and controllability for
               uncertainty quantification},
  author    = {Franzen, Jannik and others},
  booktitle = {Advances in Neural Information Processing Systems, Datasets and Benchmarks Track},
  year      = {2024}
}""",
    tags=("histopathology", "H&E", "synthetic", "cell-phenotyping", "panoptic-segmentation"),
    authors_config=_config("config_unetr_arctique.yaml", 10000, 64, 10000, 1e-6),
    published=(("base", 0.938),),
)

PROFILES: dict[str, DatasetProfile] = {p.name: p for p in (PHENOCELL, LIZARD, PANNUKE, ARCTIQUE)}
DEFAULT_PROFILE = PHENOCELL.name


def get_profile(name: str | None) -> DatasetProfile:
    """The profile called ``name`` (``None`` = PhenoCell); an unknown name lists the valid ones."""
    key = DEFAULT_PROFILE if name is None else name
    check_choice("dataset profile", key, PROFILES)
    return PROFILES[key]
