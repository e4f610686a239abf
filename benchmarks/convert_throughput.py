"""Conversion throughput, serial vs parallel, against the PNG-encode floor, on synthetic exports.

For each FoV count: convert once with ``--workers 1`` and once with ``--workers N`` (each in a fresh child
process that reports its own peak RSS, VmHWM from /proc/self/status; ru_maxrss is not used because Linux
carries the parent's high-water mark into a forked child), check both outputs are byte-identical, then time
the floor: PNG-encoding the same tiles with the same schema and compression, and writing them to parquet, on
one core (tiles decoded from the serial output beforehand, one FoV at a time, not timed). Default: the real
FoV size, 1440 x 1920 mask px, H&E at 2x, cut as the converter's default (``--tiling phenobench --pixel-grid
mask``: 63 crops of ~206 x 213 px per FoV from the H&E area-averaged onto the mask grid); ``--tiling grid
--pixel-grid he`` cuts 256 px tiles from the H&E's own pixels (180 per FoV: the 720-tile set of issue 18).

CPU seconds are the load-independent figures on a shared machine: the driver's (its process time over the
convert call, its threads included) and, with workers, theirs (sampled from /proc every 0.2 s: each
descendant's own and reaped children's user + system time). From them, the speed-up that ``N`` idle cores
would give: serial CPU / (driver CPU + worker CPU / N), an estimate for balanced FoVs. Usage:
python benchmarks/convert_throughput.py [--fovs 4 16] [--mask-size 1440x1920] [--workers 2] [--workdir DIR]
    [--reuse-raw] [--png-level 6] [--tiling grid --pixel-grid he] [--repeat 3]

``--repeat``: each measure runs that many times, interleaved (serial, parallel, floor, serial, ...); the least
time of each is reported, the figure least disturbed by other work on a shared machine.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The converter's default layout (--tiling, --pixel-grid).
DEFAULT = ("phenobench", "mask")

#: The CLI's order: light imports (options, workers: no datasets, pandas or format module), then the workers'
#: server starts importing the driver and the source's module, then this process imports the driver beside it.
CHILD = """
import json, sys, time
from phenocell.converters.options import CodexOptions, ExecutionOptions
from phenocell.converters.workers import warm_up
options = CodexOptions(progress=False, overwrite=True, png_level=int(sys.argv[4]), tiling=sys.argv[5],
                       pixel_grid=sys.argv[6], execution=ExecutionOptions(workers=int(sys.argv[3])))
# as the CLI does (_run_units): the workers' server imports the driver and the source's module beside us
warm_up(options.execution, "phenocell.converters.driver", "phenocell.converters.codex")
from phenocell.converters.driver import convert
t, c = time.perf_counter(), time.process_time()
out = convert(sys.argv[1], sys.argv[2], options=options)
elapsed, cpu = time.perf_counter() - t, time.process_time() - c
stats = json.load(open(f"{out}/qc/fov_stats.json"))
manifest = json.load(open(f"{out}/manifest.json"))
print(json.dumps({"seconds": elapsed, "cpu_seconds": cpu, "cells": sum(s["labels"] for s in stats.values()),
                  "tiles": sum(m["rows"] for m in manifest["shards"].values()),
                  "peak_rss_mib": next(int(l.split()[1]) for l in open("/proc/self/status")
                                       if l.startswith("VmHWM")) / 1024}))
"""


def _descendants(pid: int) -> dict[int, int]:
    """Process ids below ``pid`` (children, grandchildren: the forkserver's workers) -> their parent's."""
    parent = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(stat.parent.name)] = int(fields[1])
    found: dict[int, int] = {}
    frontier = [pid]
    while frontier:
        frontier = [p for p, pp in parent.items() if pp in frontier]
        found |= {p: parent[p] for p in frontier}
    return found


def _peak_mib(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in text.splitlines() if line.startswith("VmHWM")), 0.0)


TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """(own, reaped children's) user + system CPU seconds of ``pid``, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime) * TICK_S, (cutime + cstime) * TICK_S


def _workers_cpu(child: int, below: dict[int, int]) -> float:
    """CPU seconds of the workers below ``child`` (forkserver start: its grandchildren) at this moment.

    The child's own children (the forkserver, the resource tracker) count with the workers they have
    reaped, not with their own time (imports); the live workers with their own. The servers are read
    first, so a worker reaped in between is missed once (an under-count the caller's maximum drops)
    rather than counted twice.
    """
    servers = [p for p, parent in below.items() if parent == child]
    reaped = sum(_cpu_seconds(p)[1] for p in servers)
    return reaped + sum(sum(_cpu_seconds(p)) for p in below if p not in servers)


def measure(
    raw: Path, out: Path, workers: int, png_level: int = 6, layout: tuple[str, str] = DEFAULT
) -> dict:
    """Convert ``raw`` with ``workers`` processes in a child process; its timing, counts and peak RSS.

    While it runs, the peak RSS and the CPU seconds of its worker processes are sampled (every 0.2 s)
    from /proc. ``layout``: ``--tiling`` and ``--pixel-grid``.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(raw), str(out), str(workers), str(png_level), *layout],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker_peak: dict[int, float] = {}
    worker_cpu = 0.0
    while proc.poll() is None:
        below = _descendants(proc.pid)
        for pid in below:
            worker_peak[pid] = max(worker_peak.get(pid, 0.0), _peak_mib(pid))
        worker_cpu = max(worker_cpu, _workers_cpu(proc.pid, below))
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    process_seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"conversion failed:\n{stderr}")
    result = dict(json.loads(stdout.strip().splitlines()[-1]))
    result["worker_peak_rss_mib"] = max(worker_peak.values(), default=0.0)
    result["worker_cpu_seconds"] = worker_cpu
    result["process_seconds"] = process_seconds  # interpreter start to exit: imports, workers, convert
    return result


def floor_seconds(dataset: Path, scratch: Path, png_level: int = 6) -> tuple[float, float, bool]:
    """Wall and CPU seconds to PNG-encode and write to parquet the tiles of ``dataset`` (decoding not timed).

    Also returns whether the re-encoded shards are byte-identical to the converter's (same work, same bytes).
    """
    import datasets
    import numpy as np
    from datasets import Dataset

    from phenocell.schema import FEATURES, encode_instance, encode_rgb, encode_semantic
    from phenocell.storage.writer import sha256_file, write_shard

    ENCODERS = {"image": encode_rgb, "instance_mask": encode_instance, "semantic_mask": encode_semantic}

    datasets.disable_progress_bars()
    total, cpu, same = 0.0, 0.0, True
    for shard in sorted((dataset / "data").glob("*.parquet")):
        ds = Dataset.from_parquet(str(shard), features=FEATURES, cache_dir=str(scratch / "cache"))
        rows = [{k: np.asarray(v) if k in ENCODERS else v for k, v in row.items()} for row in ds]
        t, c = time.perf_counter(), time.process_time()
        # the converter's own encoders (PNG, same level), then the same parquet writer
        write_shard(
            scratch / "floor.parquet",
            ({**r, **{k: f(r[k], png_level) for k, f in ENCODERS.items()}} for r in rows),
        )
        total, cpu = total + time.perf_counter() - t, cpu + time.process_time() - c
        same &= sha256_file(scratch / "floor.parquet") == sha256_file(shard)
    return total, cpu, same


def same_files(a: Path, b: Path) -> bool:
    """Whether two directory trees hold the same relative paths with byte-identical contents."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all(filecmp.cmp(a / f, b / f, shallow=False) for f in files_a)


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def report(
    n: int, serial: dict, parallel: dict, workers: int, floor: tuple[float, float], identical: bool
) -> None:
    """Print the wall-clock figures, then the CPU-second ones (``floor``: wall and CPU seconds)."""
    tiles = serial["tiles"]
    for name, r in (("workers 1", serial), (f"workers {workers}", parallel)):
        rate = f"{r['cells'] / r['seconds']:8.0f} cells/s | {tiles / r['seconds']:6.1f} tiles/s"
        memory = f"peak RSS driver {r['peak_rss_mib']:.0f} MiB, worker {r['worker_peak_rss_mib']:.0f} MiB"
        print(f"{n:3d} FoVs, {name:>10}: {r['seconds']:6.1f} s | {rate} | {memory}")
    floor_rate = f"{tiles / floor[0]:6.1f} tiles/s"
    print(f"{n:3d} FoVs, PNG floor : {floor[0]:6.1f} s | {floor_rate} (one core: PNG encode + parquet)")
    speedup = serial["seconds"] / parallel["seconds"]
    whole = serial["process_seconds"] / parallel["process_seconds"]
    print(
        f"          whole process (start to exit): workers 1 {serial['process_seconds']:.1f} s, "
        f"workers {workers} {parallel['process_seconds']:.1f} s: x{whole:.2f}"
    )
    print(
        f"          wall clock: speed-up x{speedup:.2f} (convert call) with {workers} workers; serial at "
        f"{floor[0] / serial['seconds']:.2f}x of the one-core floor; {tiles} tiles, {serial['cells']} cells; "
        f"outputs byte-identical: {identical}"
    )
    cpu, driver, pool = serial["cpu_seconds"], parallel["cpu_seconds"], parallel["worker_cpu_seconds"]
    print(
        f"          CPU seconds (load-independent): floor {floor[1]:.1f}, serial convert {cpu:.1f}, so at "
        f"{floor[1] / cpu:.2f}x of the floor; {workers} workers: driver {driver:.1f} + workers {pool:.1f} "
        f"(x{(driver + pool) / cpu:.2f} the serial work): on {workers} idle cores about "
        f"x{cpu / (driver + pool / workers):.2f}"
    )


def _fastest(runs: list[dict]) -> dict:
    """One run's record with each time the least over ``runs`` (on a shared machine, the least disturbed)."""
    times = ("seconds", "cpu_seconds", "process_seconds", "worker_cpu_seconds")
    return runs[0] | {key: min(r[key] for r in runs) for key in times}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fovs", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--mask-size", default="1440x1920", help="mask px HxW (or one side); H&E is 2x")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel worker count")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--reuse-raw", action="store_true", help="keep raw<N> exports already in --workdir")
    parser.add_argument("--png-level", type=int, default=6, help="zlib level of the PNGs (convert and floor)")
    parser.add_argument(
        "--tiling", default=DEFAULT[0], help="phenobench (the default) or grid (256 px tiles)"
    )
    parser.add_argument("--pixel-grid", default=DEFAULT[1], help="mask (the default) or he")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each measure; the fastest are reported"
    )
    args = parser.parse_args()
    from phenocell.synthetic import SynthOptions, synthesize

    height, _, width = args.mask_size.lower().partition("x")
    shape = (int(height), int(width or height))
    root = args.workdir or Path(tempfile.mkdtemp(prefix="phenocell-bench-"))
    layout = (args.tiling, args.pixel_grid)
    print(
        f"workdir {root}; H&E {2 * shape[0]}x{2 * shape[1]} px per FoV; --tiling {layout[0]} --pixel-grid "
        f"{layout[1]}; {os.cpu_count()} cores"
    )
    for n in sorted(args.fovs):
        raw = root / f"raw{n}"
        t = time.perf_counter()
        if not (args.reuse_raw and raw.is_dir()):
            options = SynthOptions(fovs=n, patients=min(n, 8), mask_shape=shape)
            synthesize(raw, options=options, overwrite=True, progress=False)
        print(f"{n:3d} FoVs: synth {time.perf_counter() - t:6.1f} s | {load()} before converting")
        serials, parallels, floors = [], [], []
        for _ in range(args.repeat):  # interleaved, so each kind meets the same mix of machine load
            serials.append(measure(raw, root / f"out{n}-serial", 1, args.png_level, layout))
            parallels.append(measure(raw, root / f"out{n}-parallel", args.workers, args.png_level, layout))
            floors.append(floor_seconds(root / f"out{n}-serial", root, args.png_level))
            print(f"          {load()} after run {len(floors)} (serial, {args.workers} workers, floor)")
        identical = same_files(root / f"out{n}-serial", root / f"out{n}-parallel")
        floor, floor_cpu = min(f[0] for f in floors), min(f[1] for f in floors)
        print(f"          floor shards byte-identical to the converter's: {all(f[2] for f in floors)}")
        serial, parallel = _fastest(serials), _fastest(parallels)
        shards = sum(p.stat().st_size for p in (root / f"out{n}-serial" / "data").glob("*.parquet"))
        print(f"          shards {shards / 1e6:.1f} MB at --png-level {args.png_level}")
        report(n, serial, parallel, args.workers, (floor, floor_cpu), identical)


if __name__ == "__main__":
    main()
