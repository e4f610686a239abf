"""Benchmark pipeline speed: encoder-only forward, full pipeline (decode + resize + encode), cached vs
uncached head-training steps.

Usage: python benchmarks/bench_pipeline.py [--data DIR] [--encoder test/vit-tiny] [--steps 30]
Without --data, a small synthetic dataset is generated and converted first.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from phenocell.benchmark.data import load_split
from phenocell.benchmark.features import FeatureSource, encode
from phenocell.benchmark.frozen import build_encoder
from phenocell.benchmark.heads import build_head
from phenocell.benchmark.metrics import K
from phenocell.benchmark.train import TrainConfig, train_head


def _dataset(root: Path) -> Path:
    from phenocell.pipeline.convert import ConvertOptions, convert
    from phenocell.synthetic import SynthOptions, synthesize

    synthesize(root / "raw", options=SynthOptions(fovs=8, patients=6), progress=False)
    return convert(root / "raw", root / "phenocell", options=ConvertOptions(progress=False))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--encoder", default="test/vit-tiny")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    data = args.data or _dataset(Path(tempfile.mkdtemp(prefix="phenocell-pipe-")))
    enc = build_encoder(args.encoder)
    taps = enc.cfg.taps()[-1:]
    size = enc.cfg.input_size
    print(
        f"encoder {args.encoder} (input {size}, patch {enc.cfg.patch_size}), "
        f"{torch.get_num_threads()} threads"
    )

    x = torch.rand(args.batch_size, 3, size, size)
    enc(x, taps)  # warm-up
    t, n = time.perf_counter(), 0
    while time.perf_counter() - t < 5:
        enc(x, taps)
        n += args.batch_size
    encoder_ips = n / (time.perf_counter() - t)
    print(f"encoder-only forward:      {encoder_ips:8.1f} images/s")

    t = time.perf_counter()
    tiles = load_split(data, "base", "train")
    decode_s = time.perf_counter() - t
    t = time.perf_counter()
    grids = encode(enc, tiles.images, taps)
    encode_s = time.perf_counter() - t
    pipeline_ips = len(tiles) / (decode_s + encode_s)
    print(
        f"full pipeline (decode+resize+encode): {pipeline_ips:8.1f} images/s over {len(tiles)} tiles "
        f"(decode {decode_s:.1f} s, encode {encode_s:.1f} s)"
    )
    print(f"encoder-only / pipeline ratio: {encoder_ips / pipeline_ips:.2f} (data-loading overhead)")

    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=1e-3, warmup=2, val_every=10**9)
    val = FeatureSource(enc, tiles.subset([0]), taps, [g[:1] for g in grids])
    for name, source in (
        ("cached", FeatureSource(enc, tiles, taps, grids)),
        ("uncached", FeatureSource(enc, tiles, taps, None)),
    ):
        head = build_head("linear", enc.cfg.embed_dim, K)
        t = time.perf_counter()
        train_head(head, source, val, cfg, log=lambda _: None)
        print(
            f"head training, {name:8s}: {args.steps / (time.perf_counter() - t):8.2f} steps/s "
            f"(batch {args.batch_size})"
        )


if __name__ == "__main__":
    main()
