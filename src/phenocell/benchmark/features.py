"""Frozen-encoder features for a split: live, or from a per-shard fp16 token cache.

Tokens are rounded through fp16 in both paths, so a cached run and a live run see identical inputs.
Cache layout: ``CACHE/<config-hash>/manifest.json`` (encoder, weights id, input and tile size, taps, and the
sha256 of every shard encoded) and ``CACHE/<config-hash>/<fov>.safetensors`` (one fp16 tensor per tap, tile
ids in the metadata). A shard whose sha256 changed is detected as stale and re-encoded, never reused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from phenocell.benchmark.data import SplitTiles
from phenocell.benchmark.frozen import FrozenEncoder
from phenocell.benchmark.heads import HeadInput

ENCODE_BATCH = 16


def to_input(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (B, 3, T, T) tiles → float [0, 1] at the encoder input size (bilinear, antialiased)."""
    x = images.float() / 255.0
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x


def encode(encoder: FrozenEncoder, images: torch.Tensor, taps: list[int]) -> list[torch.Tensor]:
    """Tap grids (fp16) of uint8 tiles, in batches."""
    out: list[list[torch.Tensor]] = [[] for _ in taps]
    for start in range(0, len(images), ENCODE_BATCH):
        grids = encoder(to_input(images[start : start + ENCODE_BATCH], encoder.cfg.input_size), taps)
        for k, grid in enumerate(grids):
            out[k].append(grid.half())
    return [torch.cat(parts) for parts in out]


class TokenCache:
    """Per-shard fp16 token cache keyed by encoder, weights, sizes and taps (see module docstring)."""

    def __init__(
        self, root: Path, encoder: FrozenEncoder, tile_size: int, taps: list[int], data_dir: Path
    ) -> None:
        self.key: dict[str, Any] = {
            "encoder": encoder.cfg.key,
            "weights_id": encoder.weights_id,
            "input_size": encoder.cfg.input_size,
            "tile_size": tile_size,
            "taps": taps,
        }
        digest = hashlib.sha256(json.dumps(self.key, sort_keys=True).encode()).hexdigest()[:16]
        self.dir = Path(root) / digest
        self.dir.mkdir(parents=True, exist_ok=True)
        self.manifest_path = self.dir / "manifest.json"
        self.manifest: dict[str, Any] = (
            json.loads(self.manifest_path.read_text())
            if self.manifest_path.exists()
            else {**self.key, "shards": {}}
        )
        shards = json.loads((Path(data_dir) / "manifest.json").read_text())["shards"]
        self.shard_sha = {meta["fov"]: meta["sha256"] for meta in shards.values()}
        self.hits, self.misses, self.stale = 0, 0, 0

    def grids(self, encoder: FrozenEncoder, tiles: SplitTiles, taps: list[int]) -> list[torch.Tensor]:
        """Tap grids for ``tiles`` (in order), from the cache where valid, encoding and storing the rest."""
        from safetensors.torch import load_file, save_file

        by_fov: dict[str, list[int]] = {}
        for i, fov in enumerate(tiles.fovs):
            by_fov.setdefault(fov, []).append(i)
        parts: dict[int, list[torch.Tensor]] = {}
        for fov, index in sorted(by_fov.items()):
            path = self.dir / f"{fov}.safetensors"
            ids = [tiles.tile_ids[i] for i in index]
            recorded = self.manifest["shards"].get(fov)
            if path.exists() and recorded == self.shard_sha[fov]:
                stored = load_file(str(path))
                row_of = {t: r for r, t in enumerate(json.loads(_metadata(path)["tile_ids"]))}
                pos = [row_of[t] for t in ids]
                grids = [stored[f"tap{k}"][pos] for k in range(len(taps))]
                self.hits += 1
            else:
                self.stale += int(recorded is not None)
                self.misses += 1
                sub = tiles.subset(index)
                grids = encode(encoder, sub.images, taps)
                save_file(
                    {f"tap{k}": g.contiguous() for k, g in enumerate(grids)},
                    str(path),
                    metadata={"tile_ids": json.dumps(ids)},
                )
                self.manifest["shards"][fov] = self.shard_sha[fov]
                self.manifest_path.write_text(json.dumps(self.manifest, indent=2, sort_keys=True))
            for k, i in enumerate(index):
                parts[i] = [g[k] for g in grids]
        return [torch.stack([parts[i][k] for i in range(len(tiles))]) for k in range(len(taps))]


def _metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return handle.metadata() or {}


class FeatureSource:
    """Head inputs for batches of a split: live encoding, or precomputed grids (cache / memory)."""

    def __init__(
        self, encoder: FrozenEncoder, tiles: SplitTiles, taps: list[int], grids: list[torch.Tensor] | None
    ):
        self.encoder, self.tiles, self.taps, self.grids = encoder, tiles, taps, grids

    def batch(self, index: torch.Tensor) -> HeadInput:
        """Head input for the tiles at ``index``."""
        images = to_input(self.tiles.images[index], self.encoder.cfg.input_size)
        if self.grids is not None:
            taps = [g[index].float() for g in self.grids]
        else:
            taps = [g.float() for g in encode(self.encoder, self.tiles.images[index], self.taps)]
        return HeadInput(images, taps)
