"""Render the dataset directory's README.md (YAML configs + prose + tables) with huggingface_hub's card API.

The card is a pure function of the dataset summary, so regenerating it from an unchanged dataset gives
the same bytes.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from phenocell import __version__
from phenocell.cards.figures import example_tiles
from phenocell.cards.histogram import class_histogram
from phenocell.cards.summary import DatasetSummary
from phenocell.schema import IGNORE_NAME, IGNORE_RECORD, features_for, record_to_mask
from phenocell.splits import SPLITS

FIGURE_DIR = "figures"
HISTOGRAM_PNG = "class_histogram.png"
EXAMPLES_PNG = "example_tiles.png"


def metadata_configs(summary: DatasetSummary) -> MetadataConfigs:
    """The ``configs`` entry: a default config with the 9 splits, and one config per family."""
    default = [
        {"split": f"{fam}_{split}", "path": summary.split_files(fam, split)}
        for fam in summary.card_families()
        for split in SPLITS
    ]
    configs: dict[str, dict[str, Any]] = {"default": {"data_files": default, "default": True}}
    for fam in summary.families():
        files = [{"split": split, "path": summary.split_files(fam, split)} for split in SPLITS]
        configs[fam] = {"data_files": files}
    return MetadataConfigs(configs)


def dataset_infos(summary: DatasetSummary) -> DatasetInfosDict:
    """The ``dataset_info`` entry: features and split sizes (tiles, shard bytes) of every config."""
    total = sum(f.num_bytes for f in summary.fovs.values())

    def info(names: list[tuple[str, str, str]], copies: int) -> DatasetInfo:
        splits = SplitDict()
        for fam, split, name in names:
            num_bytes, tiles = summary.split_bytes(fam, split), summary.split_tiles(fam, split)
            splits.add(SplitInfo(name=name, num_bytes=num_bytes, num_examples=tiles))
        return DatasetInfo(
            features=features_for(summary.profile),
            splits=splits,
            download_size=total,
            dataset_size=copies * total,
        )

    infos = DatasetInfosDict()
    card = summary.card_families()
    infos["default"] = info([(f, s, f"{f}_{s}") for f in card for s in SPLITS], len(card))
    for fam in summary.families():
        infos[fam] = info([(fam, s, s) for s in SPLITS], 1)
    return infos


def card_data(summary: DatasetSummary) -> DatasetCardData:
    """The card's YAML header, with configs and dataset_info written by `datasets`' own helpers."""
    tiles = sum(f.tiles for f in summary.fovs.values())
    data = DatasetCardData(
        license=summary.license,
        pretty_name=summary.profile.pretty_name,
        task_categories=["image-segmentation"],
        tags=list(summary.profile.tags),
        size_categories=[_size_category(tiles)],
    )
    metadata_configs(summary).to_dataset_card_data(data)
    dataset_infos(summary).to_dataset_card_data(data)
    return data


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


def _split_rows(summary: DatasetSummary) -> list[dict[str, Any]]:
    rows = []
    for fam in summary.families():
        for split in SPLITS:
            fovs = summary.split_fovs(fam, split)
            patients = {summary.splits.fov_patient[f] for f in fovs}
            rows.append(
                {
                    "family": fam,
                    "split": split,
                    "fovs": len(fovs),
                    "patients": len(patients),
                    "tiles": summary.split_tiles(fam, split),
                }
            )
    return rows


def _class_rows(summary: DatasetSummary) -> list[dict[str, Any]]:
    cols = [(fam, split) for fam in summary.card_families() for split in SPLITS]
    counts = {c: summary.class_counts(*c) for c in cols}
    rows = []
    for cid, name in [*list(enumerate(summary.profile.class_names))[1:], (IGNORE_RECORD, IGNORE_NAME)]:
        rows.append(
            {
                "id": record_to_mask(cid),
                "name": name,
                "merged": ", ".join(summary.merged_names.get(name, [])) or "—",
                "counts": [counts[c].get(cid, 0) for c in cols],
            }
        )
    return rows


def _layout(options: dict[str, Any]) -> str:
    """One sentence on how the FoVs were cut into tiles."""
    mpp = options.get("target_mpp")
    if mpp:
        at = f"resampled to {mpp} µm/px (H&E by area, masks nearest)"
    elif options.get("pixel_grid", "he") == "mask":
        at = "on the mask grid (an H&E finer than the masks area-averaged onto it, as the authors' tiles)"
    else:
        at = "at native H&E pixels"
    if options.get("tiling") == "phenobench":
        return (
            f"`phenobench`, the authors' non-overlapping linspace crops (7 x 9 per 1440 x 1920 FoV) {at}, "
            "each zero-padded at the centre to 224 px; a row's `valid` box is the crop, the rest padding."
        )
    stride = options.get("stride") or options.get("tile_size")
    return (
        f"`grid`, {options.get('tile_size')} px tiles every {stride} px {at}; the last row and column end "
        "at the FoV edge and overlap their neighbours."
    )


def _splits_source(summary: DatasetSummary) -> str:
    splits = summary.splits
    if splits.source != "drawn":
        return f"from {splits.source}; patient overlaps are reported below, not removed"
    if splits.base_by == "region":
        return f"seed {splits.seed}; Base by region as the authors, so patients may straddle Base splits"
    return f"patient-disjoint within each family, seed {splits.seed}"


def card_yaml(data: DatasetCardData) -> str:
    """The card's YAML header: ``data.to_yaml()``'s text, emitted by libyaml where PyYAML has it.

    huggingface_hub dumps with PyYAML's pure-Python emitter; libyaml's writes the same text for the plain
    dicts, lists, strings and numbers of a card (tests/cards check it) in a fraction of the time.
    """
    dumper = getattr(yaml, "CDumper", yaml.Dumper)  # Dumper: huggingface_hub's (yaml.dump's default)
    return str(yaml.dump(data.to_dict(), Dumper=dumper, allow_unicode=True, sort_keys=False)).strip()


def render_card(summary: DatasetSummary) -> str:
    """The dataset card (README.md) text, rendered from ``templates/dataset_card.md``."""
    template = resources.files("phenocell.cards").joinpath("templates", "dataset_card.md")
    data = card_data(summary)
    # what DatasetCard.from_template renders, without its str()'s parse and re-dump of the YAML header
    # (the same bytes: tests/cards check it; the round trip cost a third of a second per conversion)
    card = jinja2.Template(template.read_text(encoding="utf-8")).render(
        card_data=card_yaml(data),
        **data.to_dict(),
        tiles=sum(f.tiles for f in summary.fovs.values()),
        tile_size=224 if summary.options.get("tiling") == "phenobench" else summary.options.get("tile_size"),
        n_fovs=len(summary.fovs),
        n_patients=len({summary.splits.fov_patient[f] for f in summary.fovs}),
        examples_png=f"{FIGURE_DIR}/{EXAMPLES_PNG}",
        histogram_png=f"{FIGURE_DIR}/{HISTOGRAM_PNG}",
        layout=_layout(summary.options),
        splits_source=_splits_source(summary),
        rules=[(f, summary.splits.rule(f)) for f in summary.families()],
        outside=[(f, p) for f, p in summary.splits.outside.items() if f in summary.splits.families],
        findings=[(f, lines) for f in summary.families() if (lines := summary.splits.findings.get(f))],
        split_rows=_split_rows(summary),
        class_columns=[f"{f} {s}" for f in summary.card_families() for s in SPLITS],
        class_rows=_class_rows(summary),
        markers=summary.markers,
        excluded=sorted(summary.excluded.items()),
        normalised=summary.normalised,
        options=sorted((k, v) for k, v in summary.options.items() if k != "departures"),
        departures=summary.options.get("departures"),
        version=__version__,
        citation=summary.profile.citation,
        profile=summary.profile,
        card_families=summary.card_families(),
    )
    return f"{card}\n"  # jinja2 drops the template's final newline


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
