"""Frozen-encoder features: live on the device, or from an on-disk per-shard token cache read memory-mapped.

Both paths encode through :func:`encode`: under the run's precision (fp16 autocast on CUDA by default, bf16
or fp32 where asked) and rounded through fp16, so a cached and a live run see the same features (equal up to
the kernels' batch-size effects, within fp16 rounding). The precision is part of the cache key.
Cache layout: ``CACHE/<config-hash>/manifest.json`` (encoder, weights id, precision, input and tile size,
feature spec, image scaling and resize, and, per FoV, the sha256 of the shards holding its tiles and the tile
ids its file holds) and ``CACHE/<config-hash>/<fov>.safetensors`` (one fp16 tensor per feature grid, tile ids
in the metadata). A FoV's file holds the tiles of the runs that needed them (a later run on more tiles
appends the missing ones) and is read back tile by tile through ``safetensors.safe_open`` (a memory map): the
cache is never stacked in RAM. Files and the manifest are written whole (a hidden partial file renamed into
place): a write cut off leaves the earlier version. A FoV whose shards' sha256 changed is detected as stale
and re-encoded, never reused.

The cache is valid only for un-augmented tiles: with image-space augmentation the encoder must see each
augmented image, so training encodes live and the cache serves validation and test only.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from tqdm.auto import tqdm

from phenocell.benchmark.device import (
    Precision,
    encode_batch,
    host_mark,
    host_wait,
    pins_batches,
    to_host,
    writes_behind,
)
from phenocell.benchmark.frozen import FeatureSpec, FrozenEncoder
from phenocell.benchmark.resample import RESIZE_MODE, resize
from phenocell.errors import InvalidInputError, SystemResourceError
from phenocell.loaders.tiles import SplitIndex, TileDataset, TileRef, make_loader
from phenocell.manifest import Manifest
from phenocell.storage.atomic import atomic_file

#: 4: the precision joins the key; 5: image scaling and resize join it; 6: the CPU resizes by bands;
#: 7: rows first, in other bands (float rounding differs)
CACHE_FORMAT = 7
#: FoV files a fill writing behind (on a GPU) holds waiting for the writer thread at most.
WRITES_PENDING = 2


def scale_image(images: torch.Tensor, mode: str = "tile_max") -> torch.Tensor:
    """uint8 tiles (B, 3, H, W) → floats in [0, 1].

    ``tile_max`` divides each tile by its own maximum, as the authors' ``LMDBDataset.__getitem__``
    (``image / image.max()``; an all-zero tile stays zero instead of NaN); ``unit`` divides by 255.
    """
    return images.float().div_(_divisor(images, mode))


def _divisor(images: torch.Tensor, mode: str) -> torch.Tensor | float:
    """What :func:`scale_image` divides uint8 ``images`` by: 255, or each tile's maximum (1 for a black tile).

    The maximum is taken on the uint8 tiles (the same value as on their floats, at a quarter of the bytes).
    """
    if mode == "unit":
        return 255.0
    peak = images.amax(dim=(1, 2, 3), keepdim=True).float()
    return peak.masked_fill_(peak == 0, 1.0)


def resize_record(tile_size: int, input_size: int) -> dict[str, Any] | None:
    """What :func:`to_input` does to a ``tile_size`` tile for an ``input_size`` encoder (None: nothing)."""
    if tile_size == input_size:
        return None
    return {"from": tile_size, "to": input_size, "mode": RESIZE_MODE, "antialias": input_size < tile_size}


def to_input(images: torch.Tensor, size: int, scale: str = "tile_max") -> torch.Tensor:
    """uint8 tiles (scaled by ``scale``) or scaled floats (B, 3, T, T) → floats at the encoder input size.

    A tile whose side already equals ``size`` is never resized; any other is resized bicubically
    (antialiased when it shrinks, :func:`~phenocell.benchmark.resample.resize`). uint8 tiles are resized
    first and scaled after: the same values (both steps are linear, up to float rounding), scaling a
    quarter of the pixels when the tile halves.
    """
    if images.dtype != torch.uint8:
        return resize(images.float(), size)
    return resize(images, size).div_(_divisor(images, scale))  # same size: a float copy, not resized


FP32 = Precision(None, "cpu")


def encode(
    encoder: FrozenEncoder, x: torch.Tensor, spec: FeatureSpec, precision: Precision = FP32
) -> list[torch.Tensor]:
    """Feature grids of encoder-input images ``x`` under ``precision``'s autocast.

    A frozen encoder's come back rounded through fp16 as normal fp32 tensors (not inference tensors); the
    live pipeline and the token cache both call this. A trainable encoder's come as computed (with gradients).
    """
    with precision.autocast():
        grids = encoder(x, spec)
    return grids if encoder.trainable else [g.half().float() for g in grids]


@dataclass
class _FovPlan:
    """One FoV a fill encodes: its tiles to encode, whether its file's rows stay, its rows in the pass."""

    fov: str
    sha: str
    tiles: list[TileRef]
    keep: bool
    start: int = 0

    @property
    def end(self) -> int:
        return self.start + len(self.tiles)


class _Queued(NamedTuple):
    """A batch a fill queued: its first row in the pass, its feature grids (host copies), their mark."""

    start: int
    grids: list[torch.Tensor]
    mark: Any

    @property
    def end(self) -> int:
        return self.start + len(self.grids[0])


class _Writes:
    """A fill's FoV writes, in order: in one background thread (``behind``), else at once.

    Behind, at most :data:`WRITES_PENDING` wait for the thread. Leaving the block waits for every write; a
    write's error is raised at the next write handed over, or on leaving.
    """

    def __init__(self, behind: bool) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="token-cache-write") if behind else None
        self.pending: deque[Future[None]] = deque()

    def submit(self, save: Callable[..., None], *args: Any) -> None:
        if self.pool is None:
            save(*args)
            return
        while self.pending and (len(self.pending) >= WRITES_PENDING or self.pending[0].done()):
            self.pending.popleft().result()  # an earlier write's error surfaces here
        self.pending.append(self.pool.submit(save, *args))

    def __enter__(self) -> _Writes:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is None:
            return
        self.pool.shutdown(wait=True)
        while self.pending:
            error = self.pending.popleft().exception()
            if error is not None and exc[0] is None:
                raise error


class TokenCache:
    """Per-shard fp16 token cache keyed by encoder, weights, precision, sizes and features (module doc)."""

    def __init__(
        self,
        root: Path,
        encoder: FrozenEncoder,
        tile_size: int,
        spec: FeatureSpec,
        data_dir: Path,
        precision: Precision = FP32,
        image_scale: str = "tile_max",
    ):
        self.precision, self.image_scale = precision, image_scale
        self.key: dict[str, Any] = {
            "format": CACHE_FORMAT,
            "encoder": encoder.cfg.key,
            "weights_id": encoder.weights_id,
            "precision": precision.name,
            "input_size": encoder.cfg.input_size,
            "tile_size": tile_size,
            "features": spec.key(),
            "image_scale": image_scale,
            "resize": resize_record(tile_size, encoder.cfg.input_size),
        }
        digest = hashlib.sha256(json.dumps(self.key, sort_keys=True).encode()).hexdigest()[:16]
        self.dir = Path(root) / digest
        self.dir.mkdir(parents=True, exist_ok=True)
        self.manifest_path = self.dir / "manifest.json"
        self.manifest: dict[str, Any] = (
            json.loads(self.manifest_path.read_text())
            if self.manifest_path.exists()
            else {**self.key, "fovs": {}}
        )
        self.shard_sha = Manifest.read(Path(data_dir)).shard_sha256()
        self.spec, self.hits, self.misses, self.stale = spec, 0, 0, 0

    def fov_sha(self, index: SplitIndex) -> dict[str, str]:
        """Each FoV of ``index`` → the sha256s of the shards holding its tiles (joined in shard order).

        Keyed through the tiles' own shard paths, so datasets whose manifest names a shard after something
        other than the tiles' ``fov`` (PanNuke: one shard per part, many images per shard) resolve too.
        """
        shards_of: dict[str, list[str]] = {}
        for t in index.tiles:
            seen = shards_of.setdefault(t.fov, [])
            if t.shard not in seen:
                seen.append(t.shard)
        missing = sorted({s for shards in shards_of.values() for s in shards} - set(self.shard_sha))
        if missing:
            raise InvalidInputError(
                "the dataset manifest lacks the hash of a shard the split reads",
                expected="every shard of the split listed under 'shards' in manifest.json",
                found=", ".join(missing[:3]),
                fix="re-convert the dataset with phenocell-convert",
            )
        return {fov: "".join(self.shard_sha[s] for s in shards) for fov, shards in shards_of.items()}

    def path(self, fov: str) -> Path:
        """The cache file of one FoV."""
        return self.dir / f"{fov}.safetensors"

    def fill(
        self,
        encoder: FrozenEncoder,
        index: SplitIndex,
        device: torch.device,
        workers: int = 0,
        store: Any = None,
        progress: bool = False,
    ) -> None:
        """Encode and store each FoV of ``index`` missing, stale or lacking tiles (few FoVs in RAM at a time).

        A FoV whose file is current but was written for fewer tiles (an earlier run on a subset) keeps its
        rows: only the tiles it lacks are encoded and the file is rewritten with the union. One loader reads
        every tile to encode, FoV after FoV, in batches that may span two FoVs: from a tile store in this
        process, else in ``workers`` processes started once. A FoV's file is written once the batch after its
        last tile is queued: on a GPU its features come back while the device encodes the next batch, and the
        next tiles are read meanwhile (:func:`~phenocell.benchmark.device.to_host`). ``progress`` shows a bar
        over the tiles to encode (on stderr).
        """
        plan: list[_FovPlan] = []
        for fov, sha in sorted(self.fov_sha(index).items()):
            recorded = self.manifest["fovs"].get(fov)
            needed = [t for t in index.tiles if t.fov == fov]
            current = self.path(fov).exists() and recorded is not None and recorded["sha256"] == sha
            held = set(recorded["tiles"]) if current and recorded else set()
            if current and all(t.tile_id in held for t in needed):
                self.hits += 1
                continue
            self.stale += int(recorded is not None and not current)
            self.misses += 1
            todo = [t for t in needed if t.tile_id not in held]
            plan.append(_FovPlan(fov, sha, todo, current, plan[-1].end if plan else 0))
        if not plan:
            return
        total = plan[-1].end
        self._check_space(encoder, total)
        desc = f"token cache, {index.split}: encoding"
        with tqdm(total=total, desc=desc, unit="tile", disable=not progress, dynamic_ncols=True) as bar:
            self._encode(encoder, index, plan, device, 0 if store is not None else workers, store, bar)

    def _check_space(self, encoder: FrozenEncoder, tiles: int) -> None:
        """Fail before encoding when the disk under the cache lacks room for ``tiles`` tiles' grids."""
        grid = encoder.cfg.input_size // encoder.cfg.patch_size
        need = tiles * len(self.spec) * encoder.cfg.embed_dim * grid * grid * 2  # fp16
        free = shutil.disk_usage(self.dir).free
        if need > free:
            raise SystemResourceError(
                "not enough disk space for the token cache",
                expected=f"about {need / 1e9:.2f} GB free under {self.dir} ({tiles} tiles to encode)",
                found=f"{free / 1e9:.2f} GB free",
                fix="free space, pass --cache-dir DIR on a larger disk, or leave --cache-dir out",
            )

    def _encode(
        self,
        encoder: FrozenEncoder,
        index: SplitIndex,
        plan: list[_FovPlan],
        device: torch.device,
        workers: int,
        store: Any,
        bar: Any,
    ) -> None:
        """Encode the tiles of ``plan`` in one pass and write each FoV's file (see :meth:`fill`)."""
        tiles = tuple(t for entry in plan for t in entry.tiles)
        sub = SplitIndex(index.root, index.family, index.split, tiles)
        dataset = TileDataset(sub, store=store, fields=("image",))  # the encoder reads nothing else
        loader = make_loader(
            dataset, batch_size=encode_batch(device), workers=workers, pin_memory=pins_batches(device)
        )
        queued: list[_Queued] = []  # batches whose rows are not all written yet
        rows, written = 0, 0  # tiles queued; FoVs of ``plan`` written
        with _Writes(writes_behind(device)) as writes:
            for batch in loader:
                images = batch["image"].to(device, non_blocking=True)
                x = to_input(images, encoder.cfg.input_size, self.image_scale)
                grids = [to_host(g.half()) for g in encode(encoder, x, self.spec, self.precision)]  # fp16
                queued.append(_Queued(rows, grids, host_mark(device)))
                rows += len(batch["index"])
                bar.update(len(batch["index"]))
                while written < len(plan) and plan[written].end <= queued[-1].start:  # in older batches
                    queued = self._write(plan[written], queued, writes)
                    written += 1
            for entry in plan[written:]:
                queued = self._write(entry, queued, writes)

    def _write(self, entry: _FovPlan, queued: list[_Queued], writes: _Writes) -> list[_Queued]:
        """Hand ``entry``'s rows (views of the queued batches) to ``writes``; the batches still needed."""
        pieces = []
        for q in queued:
            lo, hi = max(entry.start, q.start), min(entry.end, q.end)
            if lo < hi:
                pieces.append((q.mark, [grid[lo - q.start : hi - q.start] for grid in q.grids]))
        writes.submit(self._save, entry, pieces)
        return [q for q in queued if q.end > entry.end]

    def _save(self, entry: _FovPlan, pieces: list[tuple[Any, list[torch.Tensor]]]) -> None:
        """Write ``entry``'s FoV file once the copies of its rows have landed, then the manifest."""
        from safetensors.torch import load_file, save_file

        parts: list[list[torch.Tensor]] = [[] for _ in range(len(self.spec))]
        ids = [t.tile_id for t in entry.tiles]
        if entry.keep:  # the rows an earlier run wrote stay, ahead of the new ones
            old = load_file(str(self.path(entry.fov)))
            ids = list(self.manifest["fovs"][entry.fov]["tiles"]) + ids
            for k in range(len(self.spec)):
                parts[k].append(old[f"tap{k}"])
        for mark, grids in pieces:
            host_wait(mark)  # the copies from the device have landed
            for k, grid in enumerate(grids):
                parts[k].append(grid)
        tensors = {f"tap{k}": torch.cat(p).contiguous() for k, p in enumerate(parts)}
        with atomic_file(self.path(entry.fov)) as partial:  # whole or not at all: the old file stays
            save_file(tensors, str(partial), metadata={"tile_ids": json.dumps(ids)})
        self.manifest["fovs"][entry.fov] = {"sha256": entry.sha, "tiles": ids}
        with atomic_file(self.manifest_path) as partial:
            partial.write_text(json.dumps(self.manifest, indent=2, sort_keys=True))

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
