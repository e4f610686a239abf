"""``phenocell cells embed``: every cell of a dataset's splits as one vector of a frozen encoder.

The split's tiles stream in FoV order through the benchmark's own input path (the same tile decoding,
scaling and resizing as ``benchmark run``: :class:`~phenocell.benchmark.evaluate.Pipeline`); the features
are the linear probe's (final-normed patch tokens, :func:`~phenocell.benchmark.frozen.feature_spec`), so a
token cache filled by ``benchmark run --head linear`` serves here and the other way round. With
``cache_dir`` the cache is read where it holds a FoV's tiles and filled where not. Memory holds one FoV's
fragments plus the output rows. ``baseline/pixel-stats`` runs no network: per-cell colour, HED, area and
shape (:mod:`.pixelstats`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from phenocell import __version__
from phenocell.benchmark.cells.config import EmbedConfig
from phenocell.benchmark.cells.fov import TILE_FIELDS, FovCells, Tile
from phenocell.benchmark.cells.pixelstats import FEATURE_NAMES, Coverage
from phenocell.benchmark.cells.table import CellRows, write_h5ad
from phenocell.benchmark.data_protocol import data_protocol
from phenocell.errors import InvalidInputError
from phenocell.loaders.tiles import (
    SplitIndex,
    TileDataset,
    dataset_profile,
    load_index,
    local_dataset,
    make_loader,
)
from phenocell.manifest import Manifest
from phenocell.paths import check_output_file

PIXEL_STATS = "baseline/pixel-stats"


def by_fov(index: SplitIndex) -> SplitIndex:
    """The same tiles with each FoV's tiles together (FoVs in order of first appearance, tiles in order)."""
    order: dict[str, list[Any]] = {}
    for ref in index.tiles:
        order.setdefault(ref.fov, []).append(ref)
    return SplitIndex(
        index.root, index.family, index.split, tuple(r for refs in order.values() for r in refs)
    )


class RecordReader:
    """Every ``cells`` field and the tile fields of a tile's row (one row group kept at a time)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._key: tuple[str, int] | None = None
        self._rows: list[dict[str, Any]] = []

    def read(self, ref: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The cell records and tile fields of ``ref``'s row."""
        if self._key != (ref.shard, ref.group):
            handle = pq.ParquetFile(self.root / ref.shard)
            columns = ["cells", *(c for c in TILE_FIELDS if c in handle.schema_arrow.names)]
            self._rows = handle.read_row_group(ref.group, columns=columns).to_pylist()
            self._key = (ref.shard, ref.group)
        row = dict(self._rows[ref.row])
        return row.pop("cells") or [], row


@dataclass
class Source:
    """Where tile features come from: an encoder (live or token cache) or none (pixel statistics)."""

    key: str
    pipe: Any = None
    cache: Any = None

    def loader(self, index: SplitIndex, cfg: EmbedConfig, progress: bool = False) -> Any:
        """An in-order loader over ``index`` (cache filled first and read, when there is one).

        ``progress``: a bar over the fill.
        """
        reader = None
        if self.cache is not None:
            self.cache.fill(self.pipe.encoder, index, self.pipe.device, cfg.workers, progress=progress)
            reader = self.cache.reader()
        return make_loader(
            TileDataset(index, reader), batch_size=cfg.batch_size, workers=cfg.workers, pin_memory=False
        )

    def grids(self, batch: dict[str, Any]) -> np.ndarray | None:
        """(B, C, gh, gw) float32 tokens of a batch (``None`` without an encoder)."""
        if self.pipe is None:
            return None
        inputs, _, _ = self.pipe.inputs(batch)
        return inputs.taps[0].float().cpu().numpy()


def build_source(
    encoder: str, cfg: EmbedConfig, index: SplitIndex, **kw: Any
) -> tuple[Source, dict[str, Any]]:
    """The feature source of ``encoder`` and its record (weights id, features, dims)."""
    if encoder == PIXEL_STATS:
        return Source(encoder), {
            "weights_id": "none",
            "features": "pixel_stats",
            "names": list(FEATURE_NAMES),
            "image_scale": "unit",  # colours of the tile as stored (/ 255), no resize
            "resize": None,
        }
    from phenocell.benchmark.device import keep_host_memory, resolve_device, resolve_precision
    from phenocell.benchmark.evaluate import Pipeline
    from phenocell.benchmark.features import TokenCache, resize_record
    from phenocell.benchmark.frozen import build_encoder, feature_spec

    device = resolve_device(cfg.device)
    keep_host_memory(device)
    enc = build_encoder(
        encoder,
        weights=kw.get("weights"),
        small=kw.get("small", False),
        trust_remote_code=kw.get("trust_remote_code", False),
    ).to(device)
    spec = feature_spec(enc.cfg, "linear", linear_input="final_norm", unetr_taps="last4")
    precision = resolve_precision("auto", device)  # benchmark run's default: one cache serves both
    pipe = Pipeline(enc, spec, device, precision, head_reads_image=False)  # cell embeddings read the grids
    cache_dir = kw.get("cache_dir")
    cache = TokenCache(cache_dir, enc, index.tile_size, spec, index.root, precision) if cache_dir else None
    record = {"weights_id": enc.weights_id, "features": spec.key(), "embed_dim": enc.cfg.embed_dim}
    record |= {"image_scale": pipe.image_scale, "resize": resize_record(index.tile_size, enc.cfg.input_size)}
    return Source(encoder, pipe, cache), record


def _tiles(
    source: Source, index: SplitIndex, cfg: EmbedConfig, progress: bool
) -> Iterator[tuple[Tile, np.ndarray | None]]:
    records = RecordReader(index.root)
    for batch in source.loader(index, cfg, progress):
        grids = source.grids(batch)
        for j, i in enumerate(batch["index"].tolist()):
            ref = index.tiles[i]
            cells, meta = records.read(ref)
            image = batch["image"][j].permute(1, 2, 0).numpy()
            tile = Tile(ref, image, batch["instance"][j].numpy(), cells, meta)
            yield tile, None if grids is None else grids[j]


def embed_split(
    source: Source, index: SplitIndex, cfg: EmbedConfig, rows: CellRows, progress: bool = False
) -> None:
    """Add every cell of ``index`` to ``rows``, one FoV at a time; ``progress``: a bar over the tiles."""
    pooling = "stats" if source.pipe is None else cfg.pooling
    coverage, current = Coverage(), None
    bar = tqdm(total=len(index), desc=f"cells, {index.split}: embedding", unit="tile", disable=not progress)
    with bar:
        for tile, grid in _tiles(source, by_fov(index), cfg, progress):
            if current is None or tile.ref.fov != current.fov:
                if current is not None:
                    rows.add(*current.rows())
                current = FovCells(tile.ref.fov, index.split, pooling, coverage)
            current.add(tile, grid)
            bar.update()
    if current is not None:
        rows.add(*current.rows())


def _indexes(root: Path, family: str, splits: tuple[str, ...]) -> dict[str, SplitIndex]:
    indexes = {s: load_index(root, family, s) for s in splits}
    empty = [s for s, i in indexes.items() if not len(i)]
    if empty or not indexes:
        raise InvalidInputError(
            f"no tiles to embed in {family} {', '.join(empty) or '(no split chosen)'}",
            expected="at least one tile in every chosen split",
            found="0 tiles",
            fix="pick another --family or --splits",
        )
    return indexes


def embed_cells(
    data: str | Path,
    *,
    encoder: str,
    out: Path,
    family: str | None = None,
    config: EmbedConfig | None = None,
    log: Any = print,
    progress: bool = False,
    **kw: Any,
) -> dict[str, Any]:
    """Embed every cell of ``family``'s chosen splits with ``encoder`` and write ``out`` (.h5ad).

    ``progress`` shows bars (on stderr) over each split's tiles and over the token-cache fill.

    ``kw``: ``weights`` (local safetensors), ``cache_dir`` (token cache), ``small`` (test-size encoder),
    ``trust_remote_code``. Returns ``uns["phenocell"]`` as written, plus ``cells`` (rows per split).
    """
    cfg = config or EmbedConfig()
    started = time.perf_counter()
    check_output_file(Path(out))  # before hours of embedding, not after
    root = local_dataset(data)
    if Path(data).is_dir():  # a local dataset is checked against its manifest before it is trusted
        from phenocell.cards.verify import verify_dataset

        verify_dataset(root, action="embedded")
    manifest = Manifest.read(root)
    profile = dataset_profile(root)
    family = family or profile.families[0]
    indexes = _indexes(root, family, cfg.split_list())
    first = next(iter(indexes.values()))
    source, record = build_source(encoder, cfg, first, **kw)
    rows = CellRows()
    for split, index in indexes.items():
        embed_split(source, index, cfg, rows, progress)
        log(f"{split}: {rows.split_counts().get(split, 0)} cells")
    uns = _uns(root, manifest.options, profile, family, encoder, record, cfg, first, source)
    uns["seconds"] = time.perf_counter() - started
    written = write_h5ad(rows, uns, Path(out), marker_names=manifest.markers)
    return {**written, "cells": rows.split_counts()}


def _uns(
    root: Path,
    options: dict[str, Any],
    profile: Any,
    family: str,
    encoder: str,
    record: dict[str, Any],
    cfg: EmbedConfig,
    index: SplitIndex,
    source: Source,
) -> dict[str, Any]:
    """What was embedded, how: the encoder, its weights, the tiling and pixel size (``uns["phenocell"]``).

    ``options``: the dataset manifest's (how its tiles were cut).
    """
    cache = source.cache
    return {
        "phenocell_version": __version__,
        "data": str(root),
        "dataset": profile.name,
        "class_names": list(profile.class_names),
        "family": family,
        "encoder": encoder,
        "pooling": "pixel_stats" if source.pipe is None else cfg.pooling,
        **record,
        "tiling": {
            "layout": options.get("tiling", "grid"),
            "tile_size": index.tile_size,
            "stride": options.get("stride") or index.tile_size,
        },
        "mpp": float(profile.mpp),
        "data_protocol": data_protocol(index, profile, record["image_scale"], record["resize"]),
        "config": asdict(cfg),
        "cache": None
        if cache is None
        else {"dir": str(cache.dir), "hits": cache.hits, "misses": cache.misses},
    }
