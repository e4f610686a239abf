"""What :func:`phenocell.benchmark.device.keep_host_memory` buys a CPU run: glibc's defaults against the
fixed thresholds, each in a fresh process (the thresholds are process-wide and cannot be unset).

Per batch (ms, the median of ``--rounds`` rounds; each round starts one fresh process per setting, in
turn, and times ``--calls`` calls after 5 of warm-up), with the minor page faults per call:

1. ``--encoder``'s forward pass (the feature spec of a linear head) on ``--batch`` random inputs;
2. the same after the input transform of uint8 tiles of ``--tile`` px
   (:func:`~phenocell.benchmark.features.to_input`), as the token-cache fill and live training run it;
3. a ViT-B/16 at 224 px (timm ``vit_base_patch16_224``, random weights): the size of UNI, Phikon-v2 and
   most of the benchmark's real encoders, which are not downloadable here;
4. a linear head's training step on cached patch-8 features (upsampling to the tile, class-weighted
   cross-entropy, backward), as ``phenocell benchmark`` runs it on the token cache;
5. with ``--data DATASET_DIR``: a whole ``phenocell benchmark`` run (``--encoder``, linear head,
   ``--steps`` steps of ``--batch`` tiles on the token cache, one validation, the final evaluations; the
   cache filled once beforehand), its wall time in place of the per-batch time.

Usage: python benchmarks/bench_host_allocator.py [--encoder test/vit-tiny] [--batch 16] [--tile 256]
       [--rounds 5] [--calls 20] [--data DATASET_DIR --family base --steps 200]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable


def _child(args: argparse.Namespace) -> None:
    import torch

    from phenocell.benchmark.device import keep_host_memory

    kept = keep_host_memory(torch.device("cpu")) if args.child == "kept" else False
    if args.what == "benchmark-run":
        import phenocell.benchmark.run as run

        run.keep_host_memory = lambda device: kept  # type: ignore[assignment]  # what this child set
        faults, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        _benchmark_run(args)
        ms, faults = (
            (time.perf_counter() - start) * 1e3,
            resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults,
        )
        print(json.dumps({"kept": kept, "ms": ms, "faults": faults}))
        return
    step = _head_step(args) if args.what == "linear-head" else _forward(args)
    with torch.inference_mode(args.what != "linear-head"):
        for _ in range(5):
            step()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        for _ in range(args.calls):
            step()
        seconds = time.perf_counter() - start
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    print(json.dumps({"kept": kept, "ms": seconds / args.calls * 1e3, "faults": faults / args.calls}))


def _forward(args: argparse.Namespace) -> Callable[[], object]:
    import torch

    from phenocell.benchmark.compat import import_timm
    from phenocell.benchmark.features import to_input
    from phenocell.benchmark.frozen import build_encoder, feature_spec

    if args.what == "vit-base":
        model = import_timm().create_model("vit_base_patch16_224", pretrained=False).eval()
        x = torch.rand(args.batch, 3, 224, 224)
        return lambda: model.forward_features(x)
    enc = build_encoder(args.encoder)
    spec = feature_spec(enc.cfg, "linear", linear_input="final_norm", unetr_taps="last4")
    size = enc.cfg.input_size
    if args.what == "encoder":
        x = torch.rand(args.batch, 3, size, size)
        return lambda: enc(x, spec)
    tiles = torch.randint(0, 256, (args.batch, 3, args.tile, args.tile), dtype=torch.uint8)
    return lambda: enc(to_input(tiles, size), spec)


def _benchmark_run(args: argparse.Namespace) -> None:
    import tempfile
    from pathlib import Path

    from phenocell.benchmark.config import TrainConfig
    from phenocell.benchmark.run import run_benchmark

    steps = args.steps
    config = TrainConfig(
        steps=steps, batch_size=args.batch, lr=1e-3, warmup=5, val_every=steps, augment="none", workers=0
    )
    with tempfile.TemporaryDirectory() as out:
        run_benchmark(
            args.data,
            family=args.family,
            encoder=args.encoder,
            head="linear",
            out=Path(out) / "run",
            config=config,
            cache_dir=args.cache,
            log=lambda _: None,
        )


def _head_step(args: argparse.Namespace) -> Callable[[], object]:
    import torch
    from torch.nn import functional as F

    from phenocell.benchmark.resample import upsample

    classes, grid, dim = 15, args.tile // 8, 192
    head = torch.nn.Conv2d(dim, classes, 1)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3)
    feats = torch.randn(args.batch, dim, grid, grid)
    target = torch.randint(0, classes, (args.batch, args.tile, args.tile))
    weight = torch.rand(classes)

    def step() -> None:
        opt.zero_grad()
        logits = upsample(head(feats), (args.tile, args.tile))
        F.cross_entropy(logits, target, weight=weight).backward()
        opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", default="test/vit-tiny")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--data", default=None, help="A converted dataset: adds a whole benchmark run (5).")
    parser.add_argument("--family", default="base")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("defaults", "kept"), help=argparse.SUPPRESS)
    parser.add_argument("--what", default="encoder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    common = ["--encoder", args.encoder, "--batch", str(args.batch), "--tile", str(args.tile)]
    common += ["--calls", str(args.calls), "--family", args.family, "--steps", str(args.steps)]
    works = {
        "encoder": f"{args.encoder} forward, batch {args.batch}",
        "transform+encoder": f"uint8 {args.tile} px tiles -> to_input -> {args.encoder}, batch {args.batch}",
        "vit-base": f"ViT-B/16 224 px (timm, random weights) forward_features, batch {args.batch}",
        "linear-head": f"linear head training step on patch-8 features, {args.tile} px, batch {args.batch}",
    }
    if args.data:
        import tempfile

        cache = tempfile.mkdtemp(prefix="phenocell-alloc-cache-")
        common += ["--data", args.data, "--cache", cache]
        works["benchmark-run"] = f"whole benchmark run, {args.family}, {args.steps} steps (total ms)"
        first = [sys.executable, __file__, "--child", "kept", "--what", "benchmark-run", *common]
        subprocess.run(first, capture_output=True, check=True)  # fills the token cache the rounds read
    title = f"per batch (median of {args.rounds} fresh processes each)"
    print(f"{title:64s} {'glibc defaults':>24s} {'keep_host_memory':>24s}  speed-up")
    for what, label in works.items():
        runs: dict[str, list[dict[str, float]]] = {"defaults": [], "kept": []}
        for _ in range(args.rounds):
            for setting in runs:
                calls = ["--calls", str(max(2, args.calls // 5))] if what == "vit-base" else []
                command = [sys.executable, __file__, "--child", setting, "--what", what, *common, *calls]
                result = subprocess.run(command, capture_output=True, text=True, check=True)
                runs[setting].append(json.loads(result.stdout.strip().splitlines()[-1]))
        ms = {s: statistics.median(r["ms"] for r in rs) for s, rs in runs.items()}
        faults = {s: statistics.median(r["faults"] for r in rs) for s, rs in runs.items()}
        cells = [f"{ms[s]:8.2f} ms {faults[s]:7.0f} faults" for s in runs]
        print(f"{label:64s} {cells[0]:>24s} {cells[1]:>24s}  x{ms['defaults'] / ms['kept']:.2f}")
        if not all(r["kept"] for r in runs["kept"]):
            print("  (keep_host_memory did not apply here: not glibc, or MALLOC_* / LD_PRELOAD set)")


if __name__ == "__main__":
    main()
