"""Peak memory of a PanNuke conversion on a mock release and on one with folds twice as large.

The folds are memory-mapped and read one image at a time, so the peak RSS should barely move when the
folds double. Each conversion runs in a fresh child process that reports its own peak RSS (VmHWM from
/proc/self/status). Prints one JSON line per conversion, then one with the ratio. Usage:
python benchmarks/pannuke_memory.py [--per-fold 16] [--size 256] [--workdir DIR]
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
from phenocell.pipeline.convert import ConvertOptions, convert
raw, out, tile = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = time.perf_counter()
convert(raw, out, options=ConvertOptions(source="pannuke", tile_size=tile, progress=False))
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


def measure(raw: Path, out: Path, tile: int) -> dict:
    """Convert ``raw`` in a child process; its timing, tile count and peak RSS (MiB)."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(raw), str(out), str(tile)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run(per_fold: int, size: int, workdir: Path) -> dict:
    """Convert mocks of ``per_fold`` and ``2 * per_fold`` images per fold; both results and the ratio."""
    make = _generator().make_pannuke
    results = {}
    for label, n in (("small", per_fold), ("double", 2 * per_fold)):
        raw = make(workdir / f"raw_{label}", per_fold=n, size=size)
        result = measure(raw, workdir / f"out_{label}", size)
        result.update(images_per_fold=n, npy_mib=round(fold_mib(raw), 1))
        results[label] = result
        print(json.dumps({label: result}), flush=True)
    results["ratio"] = results["double"]["peak_rss_mib"] / results["small"]["peak_rss_mib"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-fold", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="phenocell-pannuke-"))
    results = run(args.per_fold, args.size, workdir)
    print(json.dumps({"peak_rss_ratio": round(results["ratio"], 3)}))


if __name__ == "__main__":
    main()
