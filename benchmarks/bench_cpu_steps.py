"""CPU cost of the benchmark's per-batch steps: the banded resampling and max-index predictions against
torch's own kernels, in one run, taking turns.

Measures, per batch (``--batch`` tiles of ``--tile`` px, ``--classes`` classes; ms, the median of
``--rounds`` rounds, each timing both ways in turn; ratios kernel / ours):

1. the input transform: uint8 tiles scaled by their maximum and resized (bicubic, antialiased) to
   ``--input`` px: :func:`phenocell.benchmark.features.to_input` against ``F.interpolate`` of the scaled
   tiles (the authors' order);
2. a linear head's training step on cached features (patch-``--patch`` grid → input → tile, bilinear, then
   the class-weighted cross-entropy and its backward pass): with :func:`phenocell.benchmark.resample.upsample`
   against ``F.interpolate``;
3. the pixel classes of the probabilities: ``max(dim=1).indices`` against ``argmax(dim=1)``.

Usage: python benchmarks/bench_cpu_steps.py [--batch 16] [--tile 256] [--input 128] [--patch 8]
       [--classes 15] [--rounds 9]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch.nn import functional as F

from phenocell.benchmark.features import to_input
from phenocell.benchmark.heads import HeadInput, LinearHead
from phenocell.benchmark.resample import upsample


def _ms(step: Callable[[], object], repeat: int) -> float:
    step()
    start = time.perf_counter()
    for _ in range(repeat):
        step()
    return (time.perf_counter() - start) / repeat * 1e3


def _pair(
    name: str, kernel: Callable[[], object], ours: Callable[[], object], args: argparse.Namespace
) -> None:
    """Median ms of each over ``--rounds`` rounds taking turns, and the median of the rounds' ratios."""
    rounds = [(_ms(kernel, args.repeat), _ms(ours, args.repeat)) for _ in range(args.rounds)]
    k, o = (statistics.median(r[i] for r in rounds) for i in (0, 1))
    ratio = statistics.median(r[0] / r[1] for r in rounds)
    print(f"{name:58s} torch {k:8.2f} ms | ours {o:8.2f} ms | {ratio:5.2f}x faster (median of rounds)")


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag, default in (("batch", 16), ("tile", 256), ("input", 128), ("patch", 8), ("classes", 15)):
        parser.add_argument(f"--{flag}", type=int, default=default)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--repeat", type=int, default=5, help="Calls per timing.")
    args = parser.parse_args()
    gen = torch.Generator().manual_seed(0)
    b, t, s, k = args.batch, args.tile, args.input, args.classes
    print(f"batch {b}, tiles {t} px, input {s} px, {k} classes, torch threads {torch.get_num_threads()}")

    tiles = torch.randint(0, 256, (b, 3, t, t), generator=gen, dtype=torch.uint8)

    def kernel_transform() -> torch.Tensor:
        scaled = tiles.float() / tiles.amax(dim=(1, 2, 3), keepdim=True).float()
        return F.interpolate(scaled, size=(s, s), mode="bicubic", antialias=s < t, align_corners=False)

    _pair(
        f"input transform ({t} -> {s} px, tile-max scaling)",
        kernel_transform,
        lambda: to_input(tiles, s),
        args,
    )

    head = LinearHead(96, k)
    taps = [torch.randn(b, 96, s // args.patch, s // args.patch, generator=gen)]
    target = torch.randint(0, k, (b, t, t), generator=gen)
    weight = torch.rand(k, generator=gen)

    def step(resample: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]) -> None:
        logits = resample(head.proj(taps[-1]), (s, s))
        loss = F.cross_entropy(resample(logits, (t, t)), target, weight=weight)
        head.zero_grad(set_to_none=True)
        loss.backward()

    def interpolate(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    assert torch.allclose(
        head(HeadInput(None, taps, input_size=s)), interpolate(head.proj(taps[-1]), (s, s)), atol=1e-5
    )
    _pair(
        "linear head training step (upsample, loss, backward)",
        lambda: step(interpolate),
        lambda: step(upsample),
        args,
    )

    probs = torch.rand(b, k, t, t, generator=gen).softmax(dim=1)
    assert torch.equal(probs.argmax(dim=1), probs.max(dim=1).indices)
    _pair(
        "pixel classes of the probabilities",
        lambda: probs.argmax(dim=1),
        lambda: probs.max(dim=1).indices,
        args,
    )


if __name__ == "__main__":
    main()
