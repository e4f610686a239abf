"""Benchmark data-path speed, in one run: PNG shards, the decoded tile store, and the authors' LMDB layout.

Measures, on one split (tiles/s; ratios in brackets):

1. raw PNG decode of the split's tiles (image + both masks, bytes already in memory, one process);
2. ``TileDataset`` reading the parquet shards, one process, in index order and in shuffled order (what a
   training sampler draws);
3. the tile store: its cold build (every shard of the dataset decoded once; seconds and size on disk), then
   warm raw reads of the split's tiles in batches, in index and shuffled order, one process;
4. the LMDB reference: ``export lmdb`` of the dataset, then every record read in shuffled order the way the
   authors' ``LMDBDataset`` reads (``txn.get`` + ``pickle.loads``), one process;
5. the DataLoader over the store with 0, 1 and 2 worker processes, shuffled, at each of
   ``--loader-batch-sizes``: its tiles/s divided by the processes that read tiles (the workers, or the main
   process with 0 workers), against raw memmap slicing of the same tiles in the same order in one process
   (``np.load(mmap_mode="r")`` of the store's files, each tile copied into a preallocated batch in the
   loader's dtypes, two batches used in turn as a consumer holding the last batch needs: the memory-copy
   floor), runs of the two taking turns so both see the same machine load (target >= 0.9); and the same per
   CPU second, with the CPU of the main process and its workers together; with 2 workers also against raw
   slicing in 2 processes at once (what two readers get from the machine's shared cores and memory);
6. the full pipelines (store DataLoader, shuffled, 2 workers → device → resize → frozen encoder), loading
   what the token-cache fill loads (images) and what live training without augmentation loads (images and
   semantic maps), against encoder-only forward passes on tensors already on the device (target >= 0.9),
   and against the encoder with its input transform (tile-max scaling, resize to the encoder's input) on
   uint8 tiles already on the device, which isolates what loading costs; and the token-cache fill itself as
   ``benchmark run`` calls it (``TokenCache.fill``: the store read in the main process, FoV by FoV, in the
   device's fill batches, its files written); in ``--rounds`` short rounds of them all taking turns (this
   machine's speed drifts by 15 % within seconds): the best of each, and the median of the rounds' ratios.
   ``--only pipeline`` times just these.

Usage: python benchmarks/bench_pipeline.py [--data DIR] [--fovs 4] [--encoder test/vit-tiny]
       [--random-weights] [--device auto] [--batch-size 16] [--loader-batch-sizes 16,128] [--repeats 3]
       [--rounds 21] [--seconds 1] [--only all|pipeline]
On a GPU machine: --device cuda --encoder pathology/uni --random-weights --batch-size 64 --only pipeline.
Without --data, a synthetic dataset of --fovs FoVs (1440 x 1920 mask px, H&E at 2x) is made and converted.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.data import RandomSampler

from phenocell.benchmark.device import (
    Precision,
    encode_batch,
    keep_host_memory,
    pins_batches,
    resolve_device,
    resolve_precision,
)
from phenocell.benchmark.features import TokenCache, encode, to_input
from phenocell.benchmark.frozen import FeatureSpec, FrozenEncoder, build_encoder, feature_spec
from phenocell.loaders.tile_store import StoreReader, open_store
from phenocell.loaders.tiles import SplitIndex, TileDataset, decode_png, load_index, make_loader


def _dataset(root: Path, fovs: int, mask_size: tuple[int, int]) -> Path:
    from phenocell.converters.driver import convert
    from phenocell.converters.options import CodexOptions, ExecutionOptions
    from phenocell.synthetic import SynthOptions, synthesize

    options = SynthOptions(fovs=fovs, patients=min(fovs, 8), mask_shape=mask_size)
    synthesize(root / "raw", options=options, progress=False)
    execution = ExecutionOptions(workers=min(2, os.cpu_count() or 1))
    return convert(
        root / "raw", root / "phenocell", options=CodexOptions(progress=False, execution=execution)
    )


class Rate(NamedTuple):
    """Tiles per wall-clock second and per CPU second (this process and its live children, e.g. workers).

    On a shared machine the wall rate depends on the load; the CPU rate is the work per tile.
    """

    wall: float
    cpu: float


def _cpu_seconds() -> float:
    """CPU seconds of this process plus its live child processes (DataLoader workers), from /proc."""
    total, tick = time.process_time(), os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _best(run: Callable[[], int], repeats: int) -> Rate:
    """The best wall and CPU rates of ``repeats`` calls of ``run`` (which returns the tiles it read)."""
    wall = cpu = 0.0
    for _ in range(repeats):
        start, used = time.perf_counter(), _cpu_seconds()
        n = run()
        wall = max(wall, n / (time.perf_counter() - start))
        cpu = max(cpu, n / max(_cpu_seconds() - used, 1e-9))
    return Rate(wall, cpu)


def raw_decode_rate(index: SplitIndex, repeats: int) -> Rate:
    """Tiles/s decoding the PNGs (image, semantic, instance) of every tile, bytes in memory (best run)."""
    blobs = []
    for shard in dict.fromkeys(t.shard for t in index.tiles):
        table = pq.read_table(index.root / shard, columns=["image", "semantic_mask", "instance_mask"])
        for row in range(table.num_rows):
            blobs.append([table.column(c)[row]["bytes"].as_py() for c in table.column_names])

    def run() -> int:
        for image, semantic, instance in blobs:
            decode_png(image, np.dtype(np.uint8))
            decode_png(semantic, np.dtype(np.uint8))
            decode_png(instance, np.dtype(np.int32))
        return len(blobs)

    return _best(run, repeats)


def item_rate(dataset: TileDataset, order: Sequence[int], repeats: int) -> Rate:
    """Tiles/s of ``dataset[i]`` over ``order`` in this process (a fresh dataset: no row group cached)."""

    def run() -> int:
        fresh = TileDataset(dataset.index, store=dataset.store)
        for i in order:
            fresh[i]
        return len(order)

    return _best(run, repeats)


def store_read_rate(
    reader: StoreReader, index: SplitIndex, order: Sequence[int], batch: int, repeats: int
) -> Rate:
    """Tiles/s of raw store reads, ``batch`` tiles per call, in ``order`` (one process)."""
    refs = [index.tiles[i] for i in order]

    def run() -> int:
        for k in range(0, len(refs), batch):
            reader.read(refs[k : k + batch])
        return len(refs)

    return _best(run, repeats)


def cold_store(index: SplitIndex, root: Path) -> tuple[float, int, int, StoreReader]:
    """Build the store of every shard of the dataset from nothing under ``root``.

    Returns seconds, tiles, bytes on disk and the reader.
    """
    import json

    shutil.rmtree(root, ignore_errors=True)
    shards = list(json.loads((index.root / "manifest.json").read_text())["shards"])
    tiles = sum(pq.ParquetFile(index.root / s).metadata.num_rows for s in shards)
    start = time.perf_counter()
    reader = open_store(str(root), index.root, dict.fromkeys(shards, index.tile_size), log=lambda _: None)
    seconds = time.perf_counter() - start
    assert reader is not None
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return seconds, tiles, size, reader


def lmdb_reference(data: Path, scratch: Path, repeats: int) -> tuple[float, int, int, Rate]:
    """``export lmdb`` of ``data`` (seconds, records, bytes), then shuffled get + unpickle tiles/s."""
    import lmdb

    from phenocell.loaders.lmdb_export import export_lmdb
    from phenocell.storage.lmdb import env_path

    shutil.rmtree(scratch, ignore_errors=True)
    start = time.perf_counter()
    out, count = export_lmdb(data, scratch, progress=False)
    seconds = time.perf_counter() - start
    env_dir = env_path(out)
    size = sum(p.stat().st_size for p in Path(env_dir).rglob("*") if p.is_file())
    env = lmdb.open(str(env_dir), readonly=True, lock=False, readahead=False, meminit=False)
    keys = [f"{i:08}".encode("ascii") for i in range(count)]
    np.random.default_rng(0).shuffle(keys)

    def run() -> int:
        for key in keys:
            with env.begin(write=False) as txn:
                pickle.loads(txn.get(key) or b"")
        return len(keys)

    return seconds, count, size, _best(run, repeats)


MIN_TILES = 1024  # tiles per timed run of the DataLoader figures (the split's shuffled order repeated)


def raw_slicing(
    reader: StoreReader, index: SplitIndex, order: Sequence[int], batch: int
) -> Callable[[], int]:
    """One pass of raw memmap slicing over ``order``: each tile copied out of ``np.load(mmap_mode="r")`` maps
    into a preallocated batch (uint8 image and semantic, int32 instance), ``batch`` tiles at a time.

    Batches alternate between two buffers: a consumer still holds the previous batch while the next is made.
    """
    maps, first = {}, {}
    for shard in dict.fromkeys(t.shard for t in index.tiles):
        folder = reader.dir / reader.shas[shard]
        maps[shard] = [np.load(folder / f"{n}.npy", mmap_mode="r") for n in ("image", "semantic", "instance")]
        first[shard] = np.load(folder / "row_groups.npy").tolist()
    tiles = [(maps[t.shard], first[t.shard][t.group] + t.row) for t in (index.tiles[i] for i in order)]
    side = (index.tile_size, index.tile_size)
    buffers = [
        (
            np.empty((batch, 3, *side), np.uint8),
            np.empty((batch, *side), np.uint8),
            np.empty((batch, *side), np.int32),
        )
        for _ in range(2)
    ]

    def run() -> int:
        for b, start in enumerate(range(0, len(tiles), batch)):
            out_image, out_semantic, out_instance = buffers[b % 2]
            for k, ((image, semantic, instance), row) in enumerate(tiles[start : start + batch]):
                out_image[k] = image[row]
                out_semantic[k] = semantic[row]
                out_instance[k] = instance[row]
        return len(tiles)

    return run


def concurrent_rate(run: Callable[[], int], processes: int) -> Rate:
    """Per-process rates of ``run`` in ``processes`` forked processes at once (started together).

    What each of that many tile readers can do when they share the machine (cores, memory bandwidth), with
    no DataLoader around them: the reference of a DataLoader with that many workers.
    """
    if processes <= 1:
        return _best(run, 1)
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(processes + 1), ctx.SimpleQueue()

    def child() -> None:
        run()  # pages mapped, as the loader's persistent workers have them
        barrier.wait()
        start, used = time.perf_counter(), time.process_time()
        n = run()
        results.put((n / (time.perf_counter() - start), n / max(time.process_time() - used, 1e-9)))

    children = [ctx.Process(target=child) for _ in range(processes)]
    for proc in children:
        proc.start()
    barrier.wait()
    rates = [results.get() for _ in children]
    for proc in children:
        proc.join()
    return Rate(sum(r[0] for r in rates) / processes, sum(r[1] for r in rates) / processes)


def loader_rate(
    dataset: TileDataset, workers: int, batch: int, order: list[int], raw: Callable[[], int], repeats: int
) -> tuple[float, Rate, Rate, Rate]:
    """A DataLoader drawing ``order`` (repeated to at least ``MIN_TILES``, in one pass, as a training
    sampler draws all its steps in one pass): wall tiles/s of its first pass (workers start), then the best
    rates of later passes, of raw slicing (``raw``, over the same tiles) in one process, and of raw slicing
    in as many processes at once as the loader has readers (its workers, or the main process), one run of
    each in turn."""
    draws = order * -(-MIN_TILES // len(order))
    loader = make_loader(dataset, batch_size=batch, workers=workers, pin_memory=False, sampler=draws)
    start, n = time.perf_counter(), sum(len(b["index"]) for b in loader)
    first = n / (time.perf_counter() - start)
    loaded, sliced, together = Rate(0.0, 0.0), Rate(0.0, 0.0), Rate(0.0, 0.0)
    for _ in range(repeats):
        sliced = Rate(*map(max, sliced, _best(raw, 1)))
        together = Rate(*map(max, together, concurrent_rate(raw, max(workers, 1))))
        loaded = Rate(*map(max, loaded, _best(lambda: sum(len(b["index"]) for b in loader), 1)))
    return first, loaded, sliced, together


#: The full pipelines timed against encoder-only: name → the tile fields their loader brings.
PIPELINES = {
    "images only, as the token-cache fill loads": ("image",),
    "live training, no augmentation (image + semantic map)": ("image", "semantic"),
}


class EncoderRates(NamedTuple):
    """Best tiles/s of each, and the median over rounds of each round's ratio to encoder-only."""

    encoder_only: float
    transformed: float
    pipelines: dict[str, float]
    transformed_ratio: float
    pipeline_ratios: dict[str, float]
    fill: float
    fill_ratio: float


def encoder_rates(args: argparse.Namespace, dataset: TileDataset) -> EncoderRates:
    """Tiles/s of encoder-only forward passes, of the encoder with its input transform on tiles already in
    memory, and of each full pipeline of :data:`PIPELINES` feeding the same encoder.

    ``--rounds`` rounds, each: the first two for ``--seconds`` each, then one pass of each pipeline over
    the split, then one fill of a new token cache (:func:`fill_rate`). The best rate of each, and the median
    of the rounds' ratios: on a shared machine whose speed drifts, a round's runs see about the same machine,
    and the median ignores an odd round.
    """
    device = resolve_device(args.device)
    enc = build_encoder(args.encoder, random_weights=args.random_weights).to(device)
    precision = resolve_precision("auto", device)  # as a run: fp32 on the CPU, fp16 autocast on CUDA
    spec = feature_spec(enc.cfg, "linear", linear_input="final_norm", unetr_taps="last4")
    size = enc.cfg.input_size
    x = torch.rand(args.batch_size, 3, size, size, device=device)
    tiles = TileDataset(dataset.index, store=dataset.store).__getitems__(list(range(args.batch_size)))
    images = tiles["image"].to(device)  # uint8 tiles as the loader gives them, already on the device
    kw = {"batch_size": args.batch_size, "workers": args.pipeline_workers, "pin_memory": pins_batches(device)}
    loaders = {
        name: make_loader(
            TileDataset(dataset.index, store=dataset.store, fields=fields),
            sampler=RandomSampler(dataset, generator=torch.Generator().manual_seed(1)),
            **kw,
        )
        for name, fields in PIPELINES.items()
    }
    rounds: list[tuple[float, float, dict[str, float]]] = []
    fills: list[float] = []
    with torch.inference_mode():
        encode(enc, x, spec, precision)  # warm-up
        for loader in loaders.values():  # start the workers (once per run, as benchmark run does)
            for _ in loader:
                break
        for _ in range(args.rounds):
            encoder_only = _timed(lambda: encode(enc, x, spec, precision), args, device)
            transformed = _timed(lambda: encode(enc, to_input(images, size), spec, precision), args, device)
            piped = {}
            for name, loader in loaders.items():
                start, n = time.perf_counter(), 0
                for batch in loader:
                    x_in = to_input(batch["image"].to(device, non_blocking=True), size)
                    encode(enc, x_in, spec, precision)
                    n += len(batch["index"])
                _sync(device)
                piped[name] = n / (time.perf_counter() - start)
            fills.append(fill_rate(enc, spec, dataset, device, precision))
            rounds.append((encoder_only, transformed, piped))
    return EncoderRates(
        max(r[0] for r in rounds),
        max(r[1] for r in rounds),
        {name: max(r[2][name] for r in rounds) for name in PIPELINES},
        statistics.median(r[1] / r[0] for r in rounds),
        {name: statistics.median(r[2][name] / r[0] for r in rounds) for name in PIPELINES},
        max(fills),
        statistics.median(f / r[0] for f, r in zip(fills, rounds, strict=True)),
    )


def fill_rate(
    enc: FrozenEncoder, spec: FeatureSpec, dataset: TileDataset, device: torch.device, precision: Precision
) -> float:
    """Tiles/s of the token-cache fill as ``benchmark run`` calls it (``TokenCache.fill`` over the store, read
    in this process, in the device's fill batches), into a new cache folder; its file writes included."""
    with tempfile.TemporaryDirectory(prefix="phenocell-fill-") as tmp:
        cache = TokenCache(Path(tmp), enc, dataset.index.tile_size, spec, dataset.index.root, precision)
        start = time.perf_counter()
        with torch.inference_mode(False):  # as a run calls it (the encoder enters inference mode itself)
            cache.fill(enc, dataset.index, device, store=dataset.store)
        _sync(device)
        return len(dataset) / (time.perf_counter() - start)


def _timed(step: Callable[[], object], args: argparse.Namespace, device: torch.device) -> float:
    """Tiles/s of ``step`` (one batch) run again and again for ``--seconds``."""
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < args.seconds:
        step()
        n += args.batch_size
    _sync(device)
    return n / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--fovs", type=int, default=4, help="FoVs of the synthetic dataset (without --data).")
    parser.add_argument("--mask-size", default="1440x1920", help="Synthetic mask px HxW (H&E is 2x).")
    parser.add_argument("--family", default="base")
    parser.add_argument("--split", default="train")
    parser.add_argument("--encoder", default="test/vit-tiny")
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="A Hub encoder's full-size architecture with random weights (its speed without a download).",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--batch-size", type=int, default=16, help="Batch of the encoder and pipeline timings."
    )
    parser.add_argument(
        "--loader-batch-sizes",
        default="16,128",
        help="Batch sizes of the DataLoader figures (128: the reference protocol's training batch).",
    )
    parser.add_argument(
        "--seconds", type=float, default=1.0, help="Duration of each round's encoder-only timing."
    )
    parser.add_argument("--repeats", type=int, default=3, help="Timed passes; the best is reported.")
    parser.add_argument("--pipeline-workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=21, help="Rounds of the encoder and pipeline timings.")
    parser.add_argument(
        "--only", choices=("all", "pipeline"), default="all", help="pipeline: only the encoder figures (6)."
    )
    parser.add_argument("--workdir", type=Path, default=None, help="Scratch folder (store, LMDB export).")
    return parser.parse_args()


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _line(name: str, rate: Rate, ref: Rate, what: str) -> None:
    print(
        f"{name:56s} {rate.wall:8.1f} tiles/s {rate.wall / ref.wall:5.2f}x | {rate.cpu:8.1f} per CPU-s "
        f"{rate.cpu / ref.cpu:5.2f}x {what}"
    )


def _store_figures(index: SplitIndex, data: Path, work: Path, args: argparse.Namespace) -> TileDataset:
    """Cold build, LMDB reference, warm store reads; returns the dataset reading from the store."""
    order, shuffled = (
        list(range(len(index))),
        [int(i) for i in np.random.default_rng(0).permutation(len(index))],
    )
    seconds, tiles, size, reader = cold_store(index, work / "store")
    print(f"tile store cold build, all {tiles} tiles: {seconds:.1f} s = {tiles / seconds:.1f} tiles/s, "
          f"{size / 1e6:.1f} MB on disk")  # fmt: skip
    lmdb_seconds, records, lmdb_size, lmdb_rate = lmdb_reference(data, work / "lmdb", args.repeats)
    print(f"export lmdb: {lmdb_seconds:.1f} s, {records} records, {lmdb_size / 1e6:.1f} MB")
    _line("LMDB reference, shuffled get + pickle.loads, 1 process", lmdb_rate, lmdb_rate, "LMDB")
    store = {}
    for name, ids in (("index order", order), ("shuffled", shuffled)):
        store[name] = store_read_rate(reader, index, ids, args.batch_size, args.repeats)
        _line(f"tile store raw reads, {name}, 1 process", store[name], lmdb_rate, "LMDB")
    stored = TileDataset(index, store=reader)
    items = item_rate(stored, shuffled, args.repeats)
    _line("TileDataset from the store, shuffled items, 1 process", items, lmdb_rate, "LMDB")
    return stored


def main() -> None:
    args = _parse()
    kept = keep_host_memory(resolve_device(args.device))  # as a benchmark run does
    work = args.workdir or Path(tempfile.mkdtemp(prefix="phenocell-pipe-"))
    height, _, width = args.mask_size.lower().partition("x")
    data = args.data or _dataset(work, args.fovs, (int(height), int(width or height)))
    index = load_index(data, args.family, args.split)
    print(f"{len(index)} tiles of {index.tile_size} px ({args.family}/{args.split}), {os.cpu_count()} CPUs, "
          f"torch threads {torch.get_num_threads()}, glibc thresholds kept: {kept}, {_load()}")  # fmt: skip
    if args.only == "pipeline":
        shards = {t.shard: t.size for t in index.tiles}
        reader = open_store(str(work / "store"), index.root, shards, log=lambda _: None, progress=False)
        _encoder_figures(args, TileDataset(index, store=reader))
        print(f"{_load()} at the end; scratch {work}")
        return
    raw = raw_decode_rate(index, args.repeats)
    _line("raw PNG decode (image + 2 masks, bytes in memory, 1 process)", raw, raw, "raw decode")
    shuffled = [int(i) for i in np.random.default_rng(0).permutation(len(index))]
    for name, ids in (("index order", list(range(len(index)))), ("shuffled", shuffled)):
        rate = item_rate(TileDataset(index), ids, args.repeats)
        _line(f"TileDataset from parquet, {name}, 1 process", rate, raw, "raw decode")
    stored = _store_figures(index, Path(data), work, args)
    draws = shuffled * -(-MIN_TILES // len(shuffled))
    for batch in (int(b) for b in args.loader_batch_sizes.split(",")):
        slicing = raw_slicing(stored.store, index, draws, batch)
        for workers in (0, 1, 2):
            first, loaded, sliced, together = loader_rate(
                stored, workers, batch, shuffled, slicing, args.repeats
            )
            readers = max(workers, 1)  # processes that read tiles: the workers, else the main process
            per_reader = Rate(loaded.wall / readers, loaded.cpu)
            _line(
                f"DataLoader, store, shuffled, batch {batch}, {workers} workers, per reading process",
                per_reader,
                sliced,
                f"raw memmap slicing, 1 process ({sliced.wall:.0f} tiles/s, {sliced.cpu:.0f} per CPU-s; "
                f"first pass {first:.0f} tiles/s)",
            )
            if readers > 1:
                _line(
                    f"  the same against raw slicing in {readers} processes at once",
                    per_reader,
                    together,
                    f"raw memmap slicing per process, {readers} at once ({together.wall:.0f} tiles/s, "
                    f"{together.cpu:.0f} per CPU-s)",
                )
    _encoder_figures(args, stored)
    print(f"{_load()} at the end; scratch {work}")


def _encoder_figures(args: argparse.Namespace, stored: TileDataset) -> None:
    rates = encoder_rates(args, stored)
    print(f"encoder-only forward ({args.encoder}): {rates.encoder_only:.1f} tiles/s (best of {args.rounds})")
    print(
        f"encoder with its input transform (tile max scaling, resize to {args.encoder}'s input) on tiles "
        f"in memory: {rates.transformed:.1f} tiles/s = {rates.transformed / rates.encoder_only:.2f}x "
        f"encoder-only (best of each; median of the rounds' ratios {rates.transformed_ratio:.2f}x)"
    )
    for name, rate in rates.pipelines.items():
        print(
            f"full pipeline, {name} (store, shuffled, {args.pipeline_workers} workers, resize, encoder): "
            f"{rate:.1f} tiles/s = {rate / rates.encoder_only:.2f}x encoder-only = "
            f"{rate / rates.transformed:.2f}x the encoder with its input transform (best of each; "
            f"median of the rounds' ratios to encoder-only {rates.pipeline_ratios[name]:.2f}x)"
        )
    fill_batch = encode_batch(resolve_device(args.device))
    unlike = "" if fill_batch == args.batch_size else f", encoder-only at batch {args.batch_size}: not alike"
    print(
        f"token-cache fill as benchmark run calls it (TokenCache.fill: store read in the main process, in "
        f"order, batch {fill_batch}, files written): {rates.fill:.1f} tiles/s = "
        f"{rates.fill / rates.encoder_only:.2f}x encoder-only (best of each; median of the rounds' ratios "
        f"{rates.fill_ratio:.2f}x{unlike})"
    )


if __name__ == "__main__":
    main()
