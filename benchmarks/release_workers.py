"""A released dataset (Lizard mock) converted with ``--workers 1`` and ``--workers N``: same bytes, speed-up.

The mock comes from ``tests/data/lizard/data.py`` at a larger image size (one unit per image). Each conversion
runs in a child process through the CLI; wall time and the CPU seconds of the child and every process below
it (the forkserver's workers, sampled from /proc every 0.1 s, as they are not reaped by the child) are
reported, with the load average, and the two outputs are compared file by file (sha256). Usage::

    python benchmarks/release_workers.py [--images 16] [--size 768x1024] [--workers 2] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    path = ROOT / "tests" / "data" / "lizard" / "data.py"
    spec = importlib.util.spec_from_file_location("lizard_data", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_raw(raw: Path, images: int, shape: tuple[int, int]) -> None:
    """A Lizard mock of ``images`` images (sources and folds cycled from the test generator's list)."""
    gen = _generator()
    names = [(f"{src}_{100 + i}", src, fold) for i, (_, src, fold) in enumerate(gen.IMAGES * images)][:images]
    gen.make_lizard(raw, images=tuple(names), shape=shape)


def digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _cpu_ticks(root: int) -> dict[int, int]:
    """utime + stime (clock ticks) of ``root`` and every process below it, from /proc."""
    parent, ticks = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parent[pid], ticks[pid] = int(fields[1]), int(fields[11]) + int(fields[12])
    tree, frontier = {root}, [root]
    while frontier:
        frontier = [p for p, pp in parent.items() if pp in frontier and p not in tree]
        tree.update(frontier)
    return {p: ticks[p] for p in tree if p in ticks}


def run(raw: Path, out: Path, workers: int) -> dict[str, float]:
    """Convert in a child process; wall seconds and CPU seconds (the child and all its descendants)."""
    start = time.perf_counter()
    args = [sys.executable, "-m", "phenocell.cli", "convert", str(raw), "--out", str(out)]
    args += ["--source", "lizard", "--workers", str(workers), "--quiet"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: dict[int, int] = {}
    while proc.poll() is None:
        seen |= _cpu_ticks(proc.pid)
        time.sleep(0.1)
    if proc.returncode:
        raise SystemExit(proc.stderr.read().decode() if proc.stderr else "convert failed")
    cpu = sum(seen.values()) / os.sysconf("SC_CLK_TCK")
    return {"workers": workers, "seconds": time.perf_counter() - start, "cpu_seconds": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--size", default="768x1024")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    height, _, width = args.size.partition("x")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="release_workers_"))
    raw = work / "raw"
    if not raw.exists():
        make_raw(raw, args.images, (int(height), int(width)))
    serial = run(raw, work / "w1", 1)
    parallel = run(raw, work / f"w{args.workers}", args.workers)
    same = digest(work / "w1") == digest(work / f"w{args.workers}")
    print(
        json.dumps(
            {
                "images": args.images,
                "size": args.size,
                "serial": serial,
                "parallel": parallel,
                "speed_up": serial["seconds"] / parallel["seconds"],
                "byte_identical": same,
                "load_average": os.getloadavg(),
                "cpus": os.cpu_count(),
            },
            indent=1,
        )
    )
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
