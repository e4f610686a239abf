"""``protocol.data`` of a run: the data it trained on, and where that data departs from the authors'.

The authors cut every dataset the same way (``split_to_tiles.transform_to_tiles``, tile size 224: per axis
``ceil(extent / 224)`` linspace crops, centre-padded to 224) on the release's own pixel grid (PhenoCell:
the 0.377442 µm/px mask grid), and their loader divides each tile by its maximum. A run records the
dataset's tiling, tile size, µm/px, image scaling, split source and family; each of the first four that
differs from the authors' is a data departure, as are the departures the converter recorded itself (an
HDF5 conversion's ``options.departures``). The split source is recorded, never a departure: our drawn
splits are named variants, and only the authors' split files give their exact assignment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from phenocell.errors import read_json_file
from phenocell.loaders.split_index import SplitIndex
from phenocell.manifest import Manifest
from phenocell.panoptic.tile_layouts import PHENOBENCH_TILE
from phenocell.profiles import DatasetProfile

AUTHORS_TILING = "phenobench"
AUTHORS_IMAGE_SCALE = "tile_max"
#: Relative difference of µm/px under which two pixel sizes count as the same grid.
MPP_TOLERANCE = 0.01


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    return dict(read_json_file(path, path.name + " of a dataset", "pass a directory written by phenocell"))


def _tile_mpp(index: SplitIndex) -> float | None:
    """µm/px of the split's first tile (its ``mpp`` column), None when the column is absent."""
    handle = pq.ParquetFile(index.root / index.tiles[0].shard)
    if "mpp" not in handle.schema_arrow.names:
        return None
    value = handle.read_row_group(0, columns=["mpp"]).column("mpp")[0].as_py()
    return None if value is None else float(value)


def data_protocol(
    index: SplitIndex, profile: DatasetProfile, image_scale: str, resize: dict[str, Any] | None
) -> dict[str, Any]:
    """The data block of ``results.json``'s protocol for a run on ``index``'s dataset (its train split)."""
    manifest = Manifest.read_if_present(index.root)
    options = manifest.options if manifest else {}
    splits = _json(index.root / "splits.json")
    imported = options.get("source") == "authors-lmdb"  # the authors' own tiles, as they are
    tiling = options.get("tiling") or (AUTHORS_TILING if imported else "grid")
    mpp = _tile_mpp(index)
    block: dict[str, Any] = {
        "tiling": tiling,
        "tile_size": index.tile_size,
        "mpp": mpp,
        "reference_mpp": profile.mpp,
        "image_scale": image_scale,
        "resize": resize,
        "family": index.family,
        "split_source": splits.get("source", "drawn"),
        "base_by": splits.get("base_by"),
    }
    checks = [
        (tiling != AUTHORS_TILING, "tiling", tiling, AUTHORS_TILING),
        (index.tile_size != PHENOBENCH_TILE, "tile_size", index.tile_size, PHENOBENCH_TILE),
        (mpp is not None and abs(mpp / profile.mpp - 1) > MPP_TOLERANCE, "mpp", mpp, profile.mpp),
        (image_scale != AUTHORS_IMAGE_SCALE, "image_scale", image_scale, AUTHORS_IMAGE_SCALE),
    ]
    departures = {name: {"value": v, "reference": r} for hit, name, v, r in checks if hit}
    for name, dep in (options.get("departures") or {}).items():
        departures[name] = {"value": dep.get("value"), "reference": dep.get("reference")}
    block["departures"] = departures
    return block


#: How ``benchmark compare`` marks a number whose run's data departs from the authors'.
NOT_COMPARABLE = "†"
FOOTNOTE = (
    f"{NOT_COMPARABLE} the run's data departs from the authors' (protocol.data.departures in its "
    "results.json): not comparable with the published numbers."
)


def mark(doc: dict[str, Any]) -> str:
    """``NOT_COMPARABLE`` for a run whose data is not the authors', else an empty string."""
    return "" if comparable(doc) else NOT_COMPARABLE


def comparable(doc: dict[str, Any]) -> bool:
    """Whether a run's data is the authors' (no data departure), so its numbers compare with the paper's.

    Runs written before ``protocol.data`` existed count as not comparable.
    """
    data = doc.get("protocol", {}).get("data")
    return data is not None and not data.get("departures")
