"""Where the full pipeline's time beside the encoder goes on the CPU: the input transform between encoder
passes, a loader's ``next()`` on a batch that is ready, and the depthwise-convolution resize that was tried.

``bench_pipeline.py`` gives the pipeline's rate against encoder-only; this script times its parts, each the
median of ``--calls`` calls (ms; ``--batch`` uint8 tiles of ``--tile`` px, ``--encoder``'s input size):

1. the input transform (:func:`~phenocell.benchmark.features.to_input`) back to back, right after an
   encoder pass (and the call after that one), and right after a 10 ms sleep; and a uint8 → float conversion
   of the batch, back to back and after a 10 ms sleep (the first parallel operations after a pause wait for
   the second thread);
2. ``next()`` of the store's DataLoader (shuffled, ``--workers`` workers, images only) on a batch that is
   ready: 30 ms of sleep between calls, the time an encoder pass would give the workers (needs ``--data``);
3. the 2x resize as a depthwise stride-2 convolution with the interior taps of the same weights, in the
   channels-last layout it needs: the convolutions alone, and the layout changes there and back (the
   edge outputs, whose weights differ, not included), against :func:`~phenocell.benchmark.resample.resize`.

Usage: python benchmarks/bench_pipeline_gaps.py [--data DATASET_DIR] [--encoder test/vit-tiny] [--batch 16]
       [--tile 256] [--workers 2] [--calls 60]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn import functional as F
from torch.utils.data import RandomSampler

from phenocell.benchmark.features import to_input
from phenocell.benchmark.frozen import build_encoder, feature_spec
from phenocell.benchmark.resample import bands, resize
from phenocell.loaders.tile_store import open_store
from phenocell.loaders.tiles import TileDataset, load_index, make_loader


def _median_ms(before: Callable[[], object] | None, step: Callable[[int], object], calls: int) -> float:
    """Median ms of ``step(i)``, each call after ``before()`` (untimed) when given; 5 calls of warm-up."""
    times = []
    for i in range(calls + 5):
        if before is not None:
            before()
        start = time.perf_counter()
        step(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times[5:]) * 1e3


def transform_gaps(args: argparse.Namespace) -> None:
    enc = build_encoder(args.encoder)
    spec = feature_spec(enc.cfg, "linear", linear_input="final_norm", unetr_taps="last4")
    size = enc.cfg.input_size
    gen = torch.Generator().manual_seed(0)
    tiles = [torch.randint(0, 256, (args.batch, 3, args.tile, args.tile), generator=gen, dtype=torch.uint8)
             for _ in range(8)]  # fmt: skip
    x = torch.rand(args.batch, 3, size, size, generator=gen)

    def encoder_pass() -> None:
        enc(x, spec)

    def transform(i: int) -> None:
        to_input(tiles[i % 8], size)

    def pause() -> None:
        time.sleep(0.01)

    def convert(i: int) -> None:
        tiles[i % 8].float()

    with torch.inference_mode():
        encoder_pass()
        alone = _median_ms(None, transform, args.calls)
        after = _median_ms(encoder_pass, transform, args.calls)
        second = []
        for i in range(args.calls):
            encoder_pass()
            to_input(tiles[i % 8], size)
            middle = time.perf_counter()
            to_input(tiles[(i + 1) % 8], size)
            second.append(time.perf_counter() - middle)
        slept = _median_ms(pause, transform, args.calls)
        convert_alone = _median_ms(None, convert, args.calls)
        convert_slept = _median_ms(pause, convert, args.calls)
    tile, batch = args.tile, args.batch
    threads = torch.get_num_threads()
    print(f"input transform, {batch} tiles {tile} -> {size} px ({args.encoder}), {threads} threads:")
    print(f"  back to back {alone:6.2f} ms | right after an encoder pass {after:6.2f} ms (the next call "
          f"{statistics.median(second) * 1e3:6.2f} ms) | after a 10 ms sleep {slept:6.2f} ms")  # fmt: skip
    print(f"uint8 -> float of the batch: back to back {convert_alone:6.2f} ms | after a 10 ms sleep "
          f"{convert_slept:6.2f} ms")  # fmt: skip


def loader_next(args: argparse.Namespace) -> None:
    index = load_index(Path(args.data), args.family, args.split)
    shards = {t.shard: t.size for t in index.tiles}
    with tempfile.TemporaryDirectory(prefix="phenocell-gaps-") as scratch:
        store = open_store(scratch, index.root, shards, log=lambda _: None, progress=False)
        loader = make_loader(
            TileDataset(index, store=store, fields=("image",)),
            batch_size=args.batch,
            workers=args.workers,
            pin_memory=False,
            sampler=RandomSampler(range(len(index)), generator=torch.Generator().manual_seed(1)),
        )
        for _ in loader:  # start the workers
            break
        times = []
        for _ in range(3):
            batches = iter(loader)
            while True:
                time.sleep(0.03)
                start = time.perf_counter()
                if next(batches, None) is None:
                    break
                times.append(time.perf_counter() - start)
    times.sort()
    tenth = len(times) // 10
    p10, median, p90 = (v * 1e3 for v in (times[tenth], statistics.median(times), times[-tenth - 1]))
    print(
        f"next() of the store's DataLoader ({args.workers} workers, batch {args.batch}, images), batch "
        f"ready: p10 {p10:.3f} ms | median {median:.3f} ms | p90 {p90:.3f} ms ({len(times)} calls)"
    )


def depthwise_resize(args: argparse.Namespace) -> None:
    """The 2x resize by depthwise convolution in channels-last, against the banded resize."""
    tile, size = args.tile, args.tile // 2
    planes = args.batch * 3
    x = torch.randint(0, 256, (args.batch, 3, tile, tile), generator=torch.Generator().manual_seed(0),
                      dtype=torch.uint8)  # fmt: skip
    (lo, _, start, weights) = bands(tile, size, "bicubic", True, 1)[size // 2]  # an interior output's taps
    taps, pad = weights[:, 0], start * 2 - lo
    rows = taps.reshape(1, 1, -1, 1).expand(planes, 1, -1, 1).contiguous()
    cols = taps.reshape(1, 1, 1, -1).expand(planes, 1, 1, -1).contiguous()
    nhwc = torch.empty((1, planes, tile, tile), memory_format=torch.channels_last)
    nhwc.copy_(x.view(1, planes, tile, tile))
    mid = F.conv2d(nhwc, rows, stride=(2, 1), padding=(pad, 0), groups=planes)
    out = F.conv2d(mid, cols, stride=(1, 2), padding=(0, pad), groups=planes)
    reference = F.interpolate(x.float(), (size, size), mode="bicubic", antialias=True, align_corners=False)
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    err = (out.view(args.batch, 3, size, size)[inner] - reference[inner]).abs().max().item()

    def layouts(_: int) -> None:
        nhwc.copy_(x.view(1, planes, tile, tile))
        out.contiguous()

    def convolutions(_: int) -> None:
        F.conv2d(F.conv2d(nhwc, rows, stride=(2, 1), padding=(pad, 0), groups=planes),
                 cols, stride=(1, 2), padding=(0, pad), groups=planes)  # fmt: skip

    with torch.inference_mode():
        conv = _median_ms(None, convolutions, args.calls)
        layout = _median_ms(None, layouts, args.calls)
        banded = _median_ms(None, lambda _: resize(x, size), args.calls)
    print(f"{tile} -> {size} px resize, {args.batch} tiles: depthwise stride-2 convolutions {conv:6.2f} ms "
          f"+ layout changes {layout:6.2f} ms = {conv + layout:6.2f} ms (interior max |diff| {err:.1e}) | "
          f"banded {banded:6.2f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", help="A converted dataset (for the loader's next(); skipped without it).")
    parser.add_argument("--family", default="base")
    parser.add_argument("--split", default="train")
    parser.add_argument("--encoder", default="test/vit-tiny")
    for flag, default in (("batch", 16), ("tile", 256), ("workers", 2), ("calls", 60)):
        parser.add_argument(f"--{flag}", type=int, default=default)
    args = parser.parse_args()
    transform_gaps(args)
    if args.data:
        loader_next(args)
    depthwise_resize(args)


if __name__ == "__main__":
    main()
