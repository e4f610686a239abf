"""Conversion throughput and peak memory for synthetic exports of 4 and 16 FoVs (4000x4000 H&E px each).

Each conversion runs in a fresh child process that reports its own peak RSS: VmHWM from /proc/self/status.
(ru_maxrss is not used: Linux carries the parent's high-water mark into a forked child, so it would report
the synthesizer's memory.) Usage:
python benchmarks/convert_throughput.py [--fovs 4 16] [--mask-size 2000] [--workdir DIR] [--reuse-raw]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, sys, time
from phenocell.pipeline.convert import ConvertOptions, convert
t = time.perf_counter()
out = convert(sys.argv[1], sys.argv[2], options=ConvertOptions(progress=False, overwrite=True))
elapsed = time.perf_counter() - t
stats = json.load(open(f"{out}/qc/fov_stats.json"))
manifest = json.load(open(f"{out}/manifest.json"))
print(json.dumps({"seconds": elapsed, "cells": sum(s["labels"] for s in stats.values()),
                  "tiles": sum(m["rows"] for m in manifest["shards"].values()),
                  "peak_rss_mib": next(int(l.split()[1]) for l in open("/proc/self/status")
                                       if l.startswith("VmHWM")) / 1024}))
"""


def measure(raw: Path, out: Path) -> dict:
    """Convert ``raw`` in a child process; its timing, counts and peak RSS."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(raw), str(out)], capture_output=True, text=True, check=True
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fovs", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--mask-size", type=int, default=2000, help="mask px per side; H&E is 2x")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--reuse-raw", action="store_true", help="keep raw<N> exports already in --workdir")
    args = parser.parse_args()
    from phenocell.synthetic import SynthOptions, synthesize

    root = args.workdir or Path(tempfile.mkdtemp(prefix="phenocell-bench-"))
    print(f"workdir {root}; H&E {2 * args.mask_size}x{2 * args.mask_size} px per FoV")
    for n in sorted(args.fovs):
        raw = root / f"raw{n}"
        t = time.perf_counter()
        if not (args.reuse_raw and raw.is_dir()):
            synthesize(
                raw,
                options=SynthOptions(fovs=n, patients=min(n, 8), mask_shape=(args.mask_size,) * 2),
                overwrite=True,
                progress=False,
            )
        synth_s = time.perf_counter() - t
        r = measure(raw, root / f"out{n}")
        rate = f"{r['cells'] / r['seconds']:8.0f} cells/s | {r['tiles'] / r['seconds']:6.1f} tiles/s"
        print(f"{n:3d} FoVs: synth {synth_s:6.1f} s | convert {r['seconds']:6.1f} s | {rate}")
        print(f"          {r['cells']} cells, {r['tiles']} tiles | peak RSS {r['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
