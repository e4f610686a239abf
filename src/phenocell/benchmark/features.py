"""Frozen-encoder features: live on the device, or from an on-disk per-shard token cache read memory-mapped.

Tokens are rounded through fp16 in both paths, so a cached run and a live run see identical inputs.
Cache layout: ``CACHE/<config-hash>/manifest.json`` (encoder, weights id, input and tile size, feature spec,
and the sha256 of every shard encoded) and ``CACHE/<config-hash>/<fov>.safetensors`` (one fp16 tensor per
feature grid, tile ids in the metadata). Each FoV's file is written once from that FoV's tiles only and read
back tile by tile through ``safetensors.safe_open`` (a memory map): the cache is never stacked in RAM.
A shard whose sha256 changed is detected as stale and re-encoded, never reused.

The cache is valid only for un-augmented tiles: with image-space augmentation the encoder must see each
augmented image, so training encodes live and the cache serves validation and test only.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from phenocell.benchmark.data import SplitIndex, TileDataset, TileRef, make_loader
from phenocell.benchmark.frozen import FeatureSpec, FrozenEncoder

ENCODE_BATCH = 16
CACHE_FORMAT = 2


def to_input(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 or [0, 1] float (B, 3, T, T) tiles → [0, 1] floats at the encoder input size (antialiased)."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x


def encode(encoder: FrozenEncoder, x: torch.Tensor, spec: FeatureSpec) -> list[torch.Tensor]:
    """Feature grids of encoder-input images ``x``, rounded through fp16 (normal tensors, not inference)."""
    grids = encoder(x, spec)
    return [g.half().float() for g in grids]


class TokenCache:
    """Per-shard fp16 token cache keyed by encoder, weights, sizes and feature spec (module docstring)."""

    def __init__(self, root: Path, encoder: FrozenEncoder, tile_size: int, spec: FeatureSpec, data_dir: Path):
        self.key: dict[str, Any] = {
            "format": CACHE_FORMAT,
            "encoder": encoder.cfg.key,
            "weights_id": encoder.weights_id,
            "input_size": encoder.cfg.input_size,
            "tile_size": tile_size,
            "features": spec.key(),
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
        self.shard_sha: dict[str, str] = {}
        for meta in shards.values():  # a FoV split over several shards: hash of their hashes
            self.shard_sha[meta["fov"]] = self.shard_sha.get(meta["fov"], "") + meta["sha256"]
        self.spec, self.hits, self.misses, self.stale = spec, 0, 0, 0

    def path(self, fov: str) -> Path:
        """The cache file of one FoV."""
        return self.dir / f"{fov}.safetensors"

    def fill(self, encoder: FrozenEncoder, index: SplitIndex, device: torch.device, workers: int = 0) -> None:
        """Encode and store each FoV of ``index`` missing or stale in the cache (one FoV in RAM at a time)."""
        for fov in sorted({t.fov for t in index.tiles}):
            recorded = self.manifest["shards"].get(fov)
            if self.path(fov).exists() and recorded == self.shard_sha[fov]:
                self.hits += 1
                continue
            self.stale += int(recorded is not None)
            self.misses += 1
            self._encode_fov(encoder, index, fov, device, workers)

    def _encode_fov(
        self, encoder: FrozenEncoder, index: SplitIndex, fov: str, device: torch.device, workers: int
    ) -> None:
        from safetensors.torch import save_file

        tiles = tuple(t for t in index.tiles if t.fov == fov)
        sub = SplitIndex(index.root, index.family, index.split, tiles)
        loader = make_loader(TileDataset(sub), batch_size=ENCODE_BATCH, workers=workers, pin_memory=False)
        parts: list[list[torch.Tensor]] = [[] for _ in range(len(self.spec))]
        for batch in loader:
            x = to_input(batch["image"].to(device), encoder.cfg.input_size)
            for k, grid in enumerate(encoder(x, self.spec)):
                parts[k].append(grid.half().cpu())
        save_file(
            {f"tap{k}": torch.cat(p).contiguous() for k, p in enumerate(parts)},
            str(self.path(fov)),
            metadata={"tile_ids": json.dumps([t.tile_id for t in tiles])},
        )
        self.manifest["shards"][fov] = self.shard_sha[fov]
        self.manifest_path.write_text(json.dumps(self.manifest, indent=2, sort_keys=True))

    def reader(self) -> CacheReader:
        """A picklable reader for DataLoader workers."""
        return CacheReader(self.dir, len(self.spec))


class CacheReader:
    """Reads one tile's grids from the per-FoV files via ``safe_open`` (memory-mapped, opened lazily)."""

    def __init__(self, directory: Path, n_grids: int) -> None:
        self.dir, self.n = directory, n_grids
        self._handles: dict[str, Any] = {}
        self._rows: dict[str, dict[str, int]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"dir": self.dir, "n": self.n, "_handles": {}, "_rows": {}}

    def _open(self, fov: str) -> Any:
        from safetensors import safe_open

        if fov not in self._handles:
            handle = safe_open(str(self.dir / f"{fov}.safetensors"), framework="pt")
            ids = json.loads((handle.metadata() or {})["tile_ids"])
            self._handles[fov], self._rows[fov] = handle, {t: r for r, t in enumerate(ids)}
        return self._handles[fov]

    def read(self, ref: TileRef) -> list[torch.Tensor]:
        """The fp16 grids (C, g, g) of one tile."""
        handle = self._open(ref.fov)
        row = self._rows[ref.fov][ref.tile_id]
        return [handle.get_slice(f"tap{k}")[row] for k in range(self.n)]
