"""Peak memory of a PanNuke conversion on a mock release and on one with folds twice as large.

The folds are memory-mapped and read one image at a time, so the peak RSS should barely move when the
folds double. Each conversion runs in a fresh child process that reports its own peak RSS (VmHWM from
/proc/self/status). Prints one JSON line per conversion, then one with the ratio and the growth over the
added .npy size. ``--no-mmap`` reads each fold whole instead (the comparison). Usage:
python benchmarks/pannuke_memory.py [--per-fold 16] [--size 256] [--workdir DIR] [--no-mmap]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
import numpy as np
from phenocell.converters.driver import convert
from phenocell.converters.options import TileOptions
raw, out, tile, no_mmap = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
if no_mmap:  # the comparison: every np.load reads its whole array (one fold at a time), as without mmap
    load = np.load
    np.load = lambda *a, mmap_mode=None, **kw: load(*a, **kw)
t = time.perf_counter()
convert(raw, out, source="pannuke", options=TileOptions(tile_size=tile, progress=False))
rows = sum(m["rows"] for m in json.load(open(f"{out}/manifest.json"))["shards"].values())
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": round(time.perf_counter() - t, 2), "tiles": rows, "peak_rss_mib": hwm / 1024}))
"""


def _generator():  # the tests' seeded generator of PanNuke exports
    spec = importlib.util.spec_from_file_location(
        "pannuke_data", ROOT / "tests" / "data" / "pannuke" / "data.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fold_mib(raw: Path) -> float:
    """Size of the mock's .npy files in MiB."""
    return sum(p.stat().st_size for p in raw.rglob("*.npy")) / 2**20


def measure(raw: Path, out: Path, tile: int, no_mmap: bool = False) -> dict:
    """Convert ``raw`` in a child process; its timing, tile count and peak RSS (MiB).

    ``no_mmap`` makes the child's ``np.load`` ignore ``mmap_mode`` (each fold read whole): the reference
    the memory-mapped reader is compared with.
    """
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(raw), str(out), str(tile), "1" if no_mmap else "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run(per_fold: int, size: int, workdir: Path, no_mmap: bool = False) -> dict:
    """Convert mocks of ``per_fold`` and ``2 * per_fold`` images per fold; both results, ratio and growth.

    ``growth_per_added_npy`` is the peak-RSS growth (double - small) over the .npy size the doubling adds.
    """
    make = _generator().make_pannuke
    results = {}
    for label, n in (("small", per_fold), ("double", 2 * per_fold)):
        raw = make(workdir / f"raw_{label}", per_fold=n, size=size)
        result = measure(raw, workdir / f"out_{label}", size, no_mmap)
        result.update(images_per_fold=n, npy_mib=round(fold_mib(raw), 1))
        results[label] = result
        print(json.dumps({label: result}), flush=True)
    small, double = results["small"], results["double"]
    results["ratio"] = double["peak_rss_mib"] / small["peak_rss_mib"]
    growth = double["peak_rss_mib"] - small["peak_rss_mib"]
    results["growth_per_added_npy"] = growth / (double["npy_mib"] - small["npy_mib"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-fold", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--no-mmap", action="store_true", help="Read each fold whole (the comparison).")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="phenocell-pannuke-"))
    results = run(args.per_fold, args.size, workdir, args.no_mmap)
    summary = {k: round(results[k], 3) for k in ("ratio", "growth_per_added_npy")}
    print(
        json.dumps(
            {"peak_rss_ratio": summary["ratio"], "growth_per_added_npy": summary["growth_per_added_npy"]}
        )
    )


if __name__ == "__main__":
    main()
