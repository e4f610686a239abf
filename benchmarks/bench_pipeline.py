"""Benchmark data-path speed, in one run.

Measures:

1. raw PNG decode of a split's tiles (image + both masks, bytes already in memory, one process);
2. the streaming DataLoader (parquet row groups → decoded tensors) with 0, 1 and 2 worker processes, as a
   ratio to the raw decode rate times the number of decoding processes (target >= 0.9 per worker);
3. the full pipeline (DataLoader → device → resize → frozen encoder) against encoder-only forward passes on
   tensors already on the device (target >= 0.9: the data path keeps the encoder busy).

Usage: python benchmarks/bench_pipeline.py [--data DIR] [--encoder test/vit-tiny] [--device auto]
Without --data, a small synthetic dataset is generated and converted first.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from phenocell.benchmark.data import SplitIndex, TileDataset, decode_png, load_index, make_loader
from phenocell.benchmark.device import resolve_device
from phenocell.benchmark.features import to_input
from phenocell.benchmark.frozen import build_encoder, feature_spec


def _dataset(root: Path) -> Path:
    from phenocell.pipeline.convert import convert
    from phenocell.pipeline.options import ConvertOptions
    from phenocell.synthetic import SynthOptions, synthesize

    synthesize(root / "raw", options=SynthOptions(fovs=8, patients=6), progress=False)
    return convert(root / "raw", root / "phenocell", options=ConvertOptions(progress=False))


def raw_decode_rate(index: SplitIndex, repeats: int) -> float:
    """Tiles/s decoding the PNGs (image, semantic, instance) of every tile, bytes in memory (best run)."""
    blobs = []
    for shard in dict.fromkeys(t.shard for t in index.tiles):
        columns = ["image", "semantic_mask", "instance_mask"]
        table = pq.read_table(index.root / shard, columns=columns)
        for row in range(table.num_rows):
            blobs.append([table.column(c)[row]["bytes"].as_py() for c in table.column_names])
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for image, semantic, instance in blobs:
            decode_png(image, np.dtype(np.uint8))
            decode_png(semantic, np.dtype(np.uint8))
            decode_png(instance, np.dtype(np.int32))
        best = max(best, len(blobs) / (time.perf_counter() - start))
    return best


def loader_rate(index: SplitIndex, workers: int, batch: int, repeats: int) -> tuple[float, float]:
    """Tiles/s of the DataLoader: first pass (worker start included) and the best later pass."""
    loader = make_loader(TileDataset(index), batch_size=batch, workers=workers, pin_memory=False)
    rates = []
    for _ in range(repeats + 1):
        start, n = time.perf_counter(), 0
        for b in loader:
            n += len(b["index"])
        rates.append(n / (time.perf_counter() - start))
    return rates[0], max(rates[1:])


def encoder_rates(args: argparse.Namespace, index: SplitIndex, workers: int) -> tuple[float, float]:
    """Tiles/s of encoder-only forward passes and of the full pipeline feeding the same encoder."""
    device = resolve_device(args.device)
    enc = build_encoder(args.encoder).to(device)
    spec = feature_spec(enc.cfg, "linear", linear_input="final_norm", unetr_taps="last4")
    size = enc.cfg.input_size
    x = torch.rand(args.batch_size, 3, size, size, device=device)
    enc(x, spec)  # warm-up
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < args.seconds:
        enc(x, spec)
        n += args.batch_size
    _sync(device)
    encoder_only = n / (time.perf_counter() - start)
    pin = device.type == "cuda"
    loader = make_loader(TileDataset(index), batch_size=args.batch_size, workers=workers, pin_memory=pin)
    for _ in loader:  # start the workers, warm the page cache
        break
    start, n = time.perf_counter(), 0
    for batch in loader:
        enc(to_input(batch["image"].to(device, non_blocking=True), size), spec)
        n += len(batch["index"])
    _sync(device)
    return encoder_only, n / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--family", default="base")
    parser.add_argument("--split", default="train")
    parser.add_argument("--encoder", default="test/vit-tiny")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0, help="Duration of the encoder-only timing.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed passes; the best is reported.")
    parser.add_argument("--pipeline-workers", type=int, default=2)
    parser.add_argument(
        "--pipeline-tiles", type=int, default=0, help="Tiles for the pipeline timing (0: all)."
    )
    args = parser.parse_args()
    data = args.data or _dataset(Path(tempfile.mkdtemp(prefix="phenocell-pipe-")))
    index = load_index(data, args.family, args.split)
    print(
        f"{len(index)} tiles of {index.tile_size} px ({args.family}/{args.split}), "
        f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}"
    )
    raw = raw_decode_rate(index, args.repeats)
    print(f"raw PNG decode (1 process, best):      {raw:8.1f} tiles/s")
    for workers in (0, 1, 2):
        first, steady = loader_rate(index, workers, args.batch_size, args.repeats)
        per = steady / (raw * max(workers, 1))
        print(
            f"DataLoader, {workers} workers: {steady:8.1f} tiles/s best ({first:8.1f} first pass) "
            f"= {per:.2f}x raw decode per decoding process"
        )
    tiles = index.tiles[: args.pipeline_tiles] if args.pipeline_tiles else index.tiles
    sub = SplitIndex(index.root, index.family, index.split, tiles)
    encoder_only, full = encoder_rates(args, sub, args.pipeline_workers)
    print(f"encoder-only forward ({args.encoder}): {encoder_only:8.1f} tiles/s")
    print(
        f"full pipeline ({args.pipeline_workers} workers, {len(tiles)} tiles): {full:8.1f} tiles/s "
        f"= {full / encoder_only:.2f}x encoder-only"
    )


if __name__ == "__main__":
    main()
