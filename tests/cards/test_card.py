"""Dataset card: YAML round trip, sizes match load_dataset, stable bytes, linked images exist."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from datasets import load_dataset
from huggingface_hub import DatasetCard, DatasetCardData

from phenocell.cards import write_card
from phenocell.cards.render import card_yaml
from phenocell.splits import ALL_FAMILIES, DATA_EFFICIENCY, FAMILIES, SPLITS
from phenocell.storage.writer import sha256_file


def test_card_yaml_round_trips_and_matches_load_dataset(dataset_dir: Path) -> None:
    card = DatasetCard.load(dataset_dir / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "cc-by-4.0" and data["task_categories"] == ["image-segmentation"]
    assert DatasetCard(str(card)).data.to_dict() == data
    configs = {c["config_name"]: c for c in data["configs"]}
    drawn = [f for f in ALL_FAMILIES if f not in DATA_EFFICIENCY]  # those come only from the authors' files
    assert set(configs) == {"default", *drawn}  # the tiny cohort supports the DII→CLR and MSI shifts
    assert len(configs["default"]["data_files"]) == 9
    infos = {
        i["config_name"]: {s["name"]: s["num_examples"] for s in i["splits"]} for i in data["dataset_info"]
    }
    for family in drawn:
        loaded = load_dataset(str(dataset_dir), family)
        assert {s: loaded[s].num_rows for s in SPLITS} == infos[family]
        if family in FAMILIES:
            for split in SPLITS:
                assert infos["default"][f"{family}_{split}"] == infos[family][split]
    whole = load_dataset(str(dataset_dir))
    assert {s: whole[s].num_rows for s in whole} == infos["default"]


def test_readme_is_what_huggingface_hub_writes_for_it(dataset_dir: Path) -> None:
    text = (dataset_dir / "README.md").read_text(encoding="utf-8")
    assert str(DatasetCard(text)) == text  # its parse and re-dump of the YAML header changes no byte


def test_card_yaml_is_huggingface_hubs_text() -> None:
    """libyaml's emitter writes what huggingface_hub's (PyYAML's pure-Python) writes, edge cases included."""
    long = " ".join(["a long description that the emitter folds at eighty columns"] * 4)
    data = DatasetCardData(
        license="cc-by-4.0",
        pretty_name="PhenoCell: ünïcode — 日本",
        tags=["a: colon", "- dash", "#hash", "yes", "null", "1e3", "0012", 'quote\'s "both"', "", " pad "],
        description=long,
        text="line one\nline two\n\ttabbed\n",
        dataset_info=[{"splits": [{"name": "train", "num_bytes": 2**40, "num_examples": 0}], "x": None}],
        numbers=[0.1, 1e-9, -3.5, float("inf"), True, False],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": "s", "path": [f"data/r{i}.parquet" for i in range(3)]}],
            }
        ],
    )
    assert card_yaml(data) == data.to_yaml()


def test_regenerating_the_card_is_byte_identical(dataset_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(dataset_dir, tmp_path / "phenocell"))
    files = ["README.md", "figures/class_histogram.png", "figures/example_tiles.png"]
    before = {f: sha256_file(copy / f) for f in files}
    for f in files:
        (copy / f).unlink()
    write_card(copy)
    assert {f: sha256_file(copy / f) for f in files} == before


def test_every_image_the_card_links_exists(dataset_dir: Path) -> None:
    text = (dataset_dir / "README.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) >= 2
    assert all((dataset_dir / link).is_file() for link in links)
    assert "HOECHST1:Cyc_1_ch_1" in text and "NK cells" in text and "@article" in text


def test_qc_page_escapes_user_values(tmp_path: Path) -> None:
    from phenocell.cards.qc_page import render_qc_page

    stats = {
        "<script>x</script>": {"error": "bad <b>tiff</b> & more"},
        "reg001_A": {"cells": 3, "top_classes": {"T cells": 2}},
    }
    page = render_qc_page(tmp_path / "r&d", tmp_path / "exclude.csv", stats, {"reg001_A": "fold <1>"})
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "bad &lt;b&gt;tiff&lt;/b&gt; &amp; more" in page
    assert "excluded: fold &lt;1&gt;" in page and "r&amp;d" in page
    assert 'href="fovs/reg001_A.png"' in page
