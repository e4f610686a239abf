"""Render the dataset directory's README.md (YAML configs + prose + tables) with huggingface_hub's card API.

The card is a pure function of the dataset summary, so regenerating it from an unchanged dataset gives
the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData

from phenocell import __version__
from phenocell.cards.figures import class_histogram, example_tiles
from phenocell.cards.summary import DatasetSummary
from phenocell.schema import CLASS_NAMES, FEATURES, IGNORE_NAME
from phenocell.splits import FAMILIES, SPLITS

CITATION = """@article{phenobench,
  title   = {PhenoBench: A Comprehensive Benchmark for Cell Phenotyping},
  author  = {Kainmueller lab and collaborators},
  journal = {arXiv preprint},
  year    = {2025}
}
@article{schurch2020,
  title   = {Coordinated Cellular Neighborhoods Orchestrate Antitumoral Immunity at the Colorectal Cancer
             Invasive Front},
  author  = {Sch{\\"u}rch, Christian M. and others},
  journal = {Cell},
  volume  = {182},
  year    = {2020}
}"""


FIGURE_DIR = "figures"
HISTOGRAM_PNG = "class_histogram.png"
EXAMPLES_PNG = "example_tiles.png"


def configs_yaml(summary: DatasetSummary) -> list[dict[str, Any]]:
    """The ``configs`` entry: a default config with the 9 splits, and one config per family."""
    default = [
        {"split": f"{fam}_{split}", "path": summary.split_files(fam, split)}
        for fam in FAMILIES
        for split in SPLITS
    ]
    configs: list[dict[str, Any]] = [{"config_name": "default", "data_files": default, "default": True}]
    for fam in summary.families():
        files = [{"split": split, "path": summary.split_files(fam, split)} for split in SPLITS]
        configs.append({"config_name": fam, "data_files": files})
    return configs


def dataset_info_yaml(summary: DatasetSummary) -> list[dict[str, Any]]:
    """The ``dataset_info`` entry: features and split sizes (tiles, shard bytes) of every config."""
    features = FEATURES._to_yaml_list()
    total = sum(f.num_bytes for f in summary.fovs.values())

    def split(fam: str, split: str, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "num_bytes": summary.split_bytes(fam, split),
            "num_examples": summary.split_tiles(fam, split),
        }

    default = [split(fam, s, f"{fam}_{s}") for fam in FAMILIES for s in SPLITS]
    info = [
        {
            "config_name": "default",
            "features": features,
            "splits": default,
            "download_size": total,
            "dataset_size": 3 * total,
        }
    ]
    for fam in summary.families():
        info.append(
            {
                "config_name": fam,
                "features": features,
                "splits": [split(fam, s, s) for s in SPLITS],
                "download_size": total,
                "dataset_size": total,
            }
        )
    return info


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


def _split_table(summary: DatasetSummary) -> str:
    lines = ["| family | split | FoVs | patients | tiles |", "|---|---|---:|---:|---:|"]
    for fam in summary.families():
        for split in SPLITS:
            fovs = summary.split_fovs(fam, split)
            patients = {summary.splits.fov_patient[f] for f in fovs}
            lines.append(
                f"| {fam} | {split} | {len(fovs)} | {len(patients)} | {summary.split_tiles(fam, split)} |"
            )
    return "\n".join(lines)


def _class_table(summary: DatasetSummary) -> str:
    cols = [(fam, split) for fam in FAMILIES for split in SPLITS]
    counts = {c: summary.class_counts(*c) for c in cols}
    head = "| id | class | merged CODEX clusters | " + " | ".join(f"{f} {s}" for f, s in cols) + " |"
    lines = [head, "|---:|---|---|" + "---:|" * len(cols)]
    for cid, name in [*list(enumerate(CLASS_NAMES))[1:], (-1, IGNORE_NAME)]:
        merged = ", ".join(summary.merged_names.get(name, [])) or "—"
        cells = " | ".join(str(counts[c].get(cid, 0)) for c in cols)
        lines.append(f"| {255 if cid < 0 else cid} | {name} | {merged} | {cells} |")
    return "\n".join(lines)


def _markers(summary: DatasetSummary) -> str:
    return ", ".join(f"`{m}`" for m in summary.markers) or "none"


def render_card(summary: DatasetSummary) -> str:
    """The dataset card (README.md) text."""
    tiles = sum(f.tiles for f in summary.fovs.values())
    data = DatasetCardData(
        license=summary.license,
        pretty_name="PhenoCell",
        task_categories=["image-segmentation"],
        tags=[
            "histopathology",
            "H&E",
            "CODEX",
            "cell-phenotyping",
            "panoptic-segmentation",
            "colorectal-cancer",
        ],
        size_categories=[_size_category(tiles)],
        configs=configs_yaml(summary),
        dataset_info=dataset_info_yaml(summary),
    )
    excluded = "\n".join(f"- `{fov}`: {why}" for fov, why in sorted(summary.excluded.items())) or "- none"
    options = "\n".join(f"- `{k}`: `{v}`" for k, v in sorted(summary.options.items()))
    body = f"""
# PhenoCell

Panoptic H&E cell-phenotyping dataset with 14 cell types, derived from CODEX multiplexed immunofluorescence
of colorectal cancer: each H&E tile comes with an instance mask, a semantic mask (0 background, 1–14 classes,
255 ignore) and the list of its cells (class, granular CODEX cluster, centroid, area, marker intensities).
Labels come from CODEX cluster assignments registered onto H&E; the class merges follow PhenoBench.

{tiles} tiles of {summary.options.get("tile_size")} px from {len(summary.fovs)} FoVs and
{len(set(summary.splits.fov_patient[f] for f in summary.fovs))} patients.

![Example tiles: H&E and instance outlines coloured by class]({FIGURE_DIR}/{EXAMPLES_PNG})

## Load

```python
from datasets import load_dataset
ds = load_dataset("phenocell", split="tumor_stage_test")          # default config: all 9 splits
base = load_dataset("phenocell", "base")                          # train / validation / test
tumor_type = load_dataset("phenocell", "tumor_type")
tumor_stage = load_dataset("phenocell", "tumor_stage", split="test")
stream = load_dataset("phenocell", "base", split="train", streaming=True)  # no cache at all
```

Replace `"phenocell"` by the Hub repo id (`ORG/phenocell`) once published.

A tile is stored once however many splits list it: the default config prepares all nine splits, so its
cache holds each shard three times. Load a family config (`base`, `tumor_type`, `tumor_stage`) or use
`streaming=True` to read one split cheaply.

## Splits (patient-disjoint within each family, seed {summary.splits.seed})

{_split_table(summary)}

Extra families (configs `group`: CLR → DII, `msi`: MSS → MSI) are drawn when the patient table has the
data; they are configs of their own, not part of the default config.

Rules: base — random 70/15/15 over {summary.splits.base_by}s; tumor_type — train+validation from
adenocarcinoma, test = mucinous; tumor_stage — train+validation from pTNM stage 3, test = stage 4.
`splits.json` holds the FoV lists, the seed and the rules.

## Classes and cells per split

![Cells per class and split]({FIGURE_DIR}/{HISTOGRAM_PNG})

{_class_table(summary)}

## Markers

{len(summary.markers)} marker intensities per cell, in this order: {_markers(summary)}.

## QC exclusions

{excluded}

## Conversion

Made by phenocell {__version__}; `manifest.json` lists the input and shard sha256 sums. Options:

{options}

## Citation

```bibtex
{CITATION}
```
"""
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n{body}"))


def write_card(dataset_dir: Path) -> Path:
    """Render README.md and its figures from the files of a dataset directory; returns the README path."""
    dataset_dir = Path(dataset_dir)
    summary = DatasetSummary.from_dir(dataset_dir)
    (dataset_dir / FIGURE_DIR).mkdir(exist_ok=True)
    class_histogram(summary, dataset_dir / FIGURE_DIR / HISTOGRAM_PNG)
    example_tiles(dataset_dir, summary, dataset_dir / FIGURE_DIR / EXAMPLES_PNG)
    readme = dataset_dir / "README.md"
    readme.write_text(render_card(summary))
    return readme


def card_html(dataset_dir: Path) -> Path:
    """Render README.md (without its YAML header) to a standalone README.html preview beside it."""
    import markdown

    card = DatasetCard.load(Path(dataset_dir) / "README.md")
    body = markdown.markdown(card.text, extensions=["tables", "fenced_code"])
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:3px}img{max-width:100%}"
    )
    head = f'<meta charset="utf-8"><title>PhenoCell card</title><style>{style}</style>'
    page = f"<!doctype html><html><head>{head}</head><body>{body}</body></html>\n"
    out = Path(dataset_dir) / "README.html"
    out.write_text(page, encoding="utf-8")
    return out
