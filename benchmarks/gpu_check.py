"""One command that proves a CUDA machine runs the benchmark: ``python benchmarks/gpu_check.py``.

Runs every check below on one GPU (under 5 minutes on a current one), prints one line per check and the
figures, and exits 1 if any check failed, 2 if there is no CUDA device. ``--device cpu --small`` runs the same
checks on the CPU at test size (a dry run: the script itself is known to work; no GPU figure means anything).

Needs the package with its benchmark extra (``pip install -e ".[benchmark]"``); writes only under a
temporary directory (``--workdir`` to keep it).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from phenocell.benchmark.metric_names import CELL_F1

CHECKS: dict[str, str] = {
    "convert": "synthetic CODEX export converted with --tiling phenobench (63 crops per FoV, padded to 224)",
    "linear": "benchmark run, linear head: fp16 autocast + GradScaler, reference augmentation on the device",
    "unetr": "benchmark run, UNETR head with the CellViT decoder: fp16 autocast + GradScaler",
    "cache": "token cache filled by one run and read by a second (hits, no misses, same test metrics)",
    "augment": "reference augmentation (flips, affine, elastic, HED) on device tensors stays on the device",
    "vit-l": "full-size random ViT-L/16 at 224 (pathology/titan's CONCH v1.5 trunk): encoder tiles/s "
    "(forward only), training step tiles/s (augmentation + encoder + UNETR CellViT head, fp16 + GradScaler)",
    "loader": "DataLoader tiles/s to the device, from the parquet shards and from the tile store",
    "fill": "token-cache fill of every split (tile store -> device -> resize -> the ViT-L -> fp16 cache): "
    "tiles/s against encoder-only forward passes at the fill's batch (target >= 0.9x), and the cached "
    "features equal a live encoding of the same tiles",
    "hovernext": "baseline/hovernext --small trained end to end",
    "metric": f"{CELL_F1} and confusions of fixed predictions computed on the device equal the CPU's",
}
NO_CUDA = 2
FAILED = 1


@dataclass
class Context:
    """What the checks share: device, size, working directory, the converted dataset, figures."""

    device: torch.device
    small: bool
    work: Path
    data: Path | None = None
    figures: dict[str, str] = field(default_factory=dict)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)


def _config(ctx: Context, **kw: Any) -> Any:
    from phenocell.benchmark.config import TrainConfig

    steps = 2 if ctx.small else 20
    base = {"steps": steps, "batch_size": 4 if ctx.small else 32, "lr": 1e-4, "warmup": 1}
    where = {"device": str(ctx.device), "tile_store": str(ctx.work / "tiles")}
    return TrainConfig(**{**base, "val_every": steps, **where, **kw})


def _run(ctx: Context, name: str, **kw: Any) -> dict[str, Any]:
    from phenocell.benchmark.run import run_benchmark

    args = {"family": "base", "encoder": "baseline/random-vit-b16", "head": "linear", "small": ctx.small}
    args |= kw
    return run_benchmark(ctx.data, out=ctx.work / "runs" / name, log=lambda _: None, **args)  # type: ignore[arg-type]


def _expect_precision(ctx: Context, results: dict[str, Any]) -> str:
    precision = results["protocol"]["precision"]
    if ctx.cuda and precision != "fp16":
        raise RuntimeError(f"expected fp16 autocast + GradScaler on CUDA, the run used {precision}")
    return precision


def check_convert(ctx: Context) -> str:
    from phenocell.converters.driver import convert
    from phenocell.converters.options import CodexOptions
    from phenocell.loaders.tiles import load_index
    from phenocell.synthetic import SynthOptions, synthesize

    # full size: the authors' 1440 x 1920 px FoVs (masks at half resolution), 7 x 9 = 63 crops each
    fovs, shape = 6, ((512, 640) if ctx.small else (720, 960))
    synthesize(
        ctx.work / "raw", options=SynthOptions(fovs=fovs, patients=6, mask_shape=shape), progress=False
    )
    options = CodexOptions(tiling="phenobench", progress=False)
    data = convert(ctx.work / "raw", ctx.work / "phenocell", options=options)
    tiles = [t for s in ("train", "validation", "test") for t in load_index(data, "base", s).tiles]
    per_fov = {t.fov: sum(1 for u in tiles if u.fov == t.fov) for t in tiles}
    sizes = {t.size for t in tiles}
    if sizes != {224} or (not ctx.small and set(per_fov.values()) != {63}):
        raise RuntimeError(f"expected 224 px tiles, 63 per FoV; found sizes {sizes}, per FoV {per_fov}")
    ctx.data = data  # the other checks run only on a dataset that passed
    return f"{len(per_fov)} FoVs -> {len(tiles)} tiles of 224 px ({sorted(set(per_fov.values()))} per FoV)"


def _head_run(ctx: Context, head: str) -> str:
    results = _run(ctx, head, head=head, config=_config(ctx))  # UNETR: the CellViT decoder (default)
    test = results["metrics"]["test"]
    return f"precision {_expect_precision(ctx, results)}, test {CELL_F1} {test[CELL_F1]:.4f}"


def check_linear(ctx: Context) -> str:
    return _head_run(ctx, "linear")


def check_unetr(ctx: Context) -> str:
    return _head_run(ctx, "unetr")


def check_cache(ctx: Context) -> str:
    cfg = _config(ctx, augment="none")
    first = _run(ctx, "cache1", config=cfg, cache_dir=ctx.work / "cache")
    second = _run(ctx, "cache2", config=cfg, cache_dir=ctx.work / "cache")
    filled, read = first["cache"], second["cache"]
    if filled["misses"] == 0 or read["misses"] != 0 or read["hits"] == 0:
        raise RuntimeError(f"cache not reused: first {filled}, second {read}")
    a, b = first["metrics"]["test"][CELL_F1], second["metrics"]["test"][CELL_F1]
    if a != b:
        raise RuntimeError(f"cached run scored {b}, the run that filled the cache {a}")
    return f"filled {filled['misses']} FoV files, read {read['hits']}; test {CELL_F1} {a:.4f} both times"


def _batch(ctx: Context, size: int) -> dict[str, Any]:
    from phenocell.loaders.tiles import TileDataset, load_index, make_loader

    index = load_index(ctx.data, "base", "train")  # type: ignore[arg-type]
    return next(iter(make_loader(TileDataset(index), batch_size=size, workers=0, pin_memory=False)))


def check_augment(ctx: Context) -> str:
    from phenocell.benchmark.augment import Augmenter

    batch = _batch(ctx, 4)
    image = batch["image"].to(ctx.device).float() / 255.0
    semantic, instance = batch["semantic"].to(ctx.device), batch["instance"].to(ctx.device)
    out = Augmenter("reference")(image, semantic, instance)
    devices = {t.device.type for t in out}
    if devices != {ctx.device.type}:
        raise RuntimeError(f"augmentation left the device: outputs on {devices}")
    if torch.equal(out[0], image) or out[1].dtype != semantic.dtype or out[2].dtype != instance.dtype:
        raise RuntimeError("augmentation did not change the images or changed the mask dtypes")
    return f"4 tiles of {image.shape[-1]} px on {ctx.device}"


def _timed(ctx: Context, fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up (kernels, autotuning)
    ctx.sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    ctx.sync()
    return (time.perf_counter() - start) / repeats


def check_vit_l(ctx: Context) -> str:
    from phenocell.benchmark.augment import Augmenter
    from phenocell.benchmark.config import TrainConfig
    from phenocell.benchmark.device import resolve_precision
    from phenocell.benchmark.evaluate import Pipeline
    from phenocell.benchmark.features import encode, to_input
    from phenocell.benchmark.frozen import build_encoder, feature_spec
    from phenocell.benchmark.heads import build_head
    from phenocell.benchmark.objective import ClassWeightedLoss
    from phenocell.benchmark.train import train_step

    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats(ctx.device)
    with ctx.device:  # initialise the 300M weights where they run
        enc = build_encoder("pathology/titan", small=ctx.small, random_weights=True)
    precision = resolve_precision("auto", ctx.device)
    size, batch_size = enc.cfg.input_size, 4 if ctx.small else 64
    spec = feature_spec(enc.cfg, "unetr", linear_input="final_norm", unetr_taps="last4")
    x = torch.rand(batch_size, 3, size, size, device=ctx.device)
    seconds = _timed(ctx, lambda: encode(enc, x, spec, precision), 2 if ctx.small else 10)
    vit = "ViT-L/16 at test size" if ctx.small else "ViT-L/16"
    ctx.figures[f"encoder tiles/s ({vit}, forward only, batch {batch_size})"] = f"{batch_size / seconds:.3g}"
    tiles = 2 if ctx.small else 32
    cfg = TrainConfig(batch_size=tiles, device=str(ctx.device)).resolved()
    batch = _batch(ctx, tiles)
    classes = _classes(ctx)
    head = build_head("unetr", enc.cfg.embed_dim, classes, enc.cfg.patch_size).to(ctx.device)
    pipe = Pipeline(enc, spec, ctx.device, precision, Augmenter("reference"))
    loss_fn = ClassWeightedLoss(cfg, classes)
    optim = torch.optim.AdamW(head.parameters(), lr=cfg.lr)
    scaler = precision.scaler()
    step = lambda: train_step(head, batch, pipe, loss_fn, optim, scaler, cfg)  # noqa: E731
    seconds = _timed(ctx, step, 1 if ctx.small else 5)
    ctx.figures[f"training step tiles/s ({vit} + UNETR CellViT, batch {tiles})"] = f"{tiles / seconds:.3g}"
    if ctx.cuda:
        peak = torch.cuda.max_memory_allocated(ctx.device) / 2**30
        ctx.figures["peak GPU memory (ViT-L checks)"] = f"{peak:.2f} GiB"
    grids = encode(enc, to_input(batch["image"].to(ctx.device), size), spec, precision)
    shapes = {tuple(g.shape[1:]) for g in grids}
    trunk: Any = enc.model
    return f"{len(trunk.blocks)} blocks, taps {spec.taps}, grids {sorted(shapes)}, {precision.name}"


def _loader_rate(ctx: Context, dataset: Any, workers: int) -> tuple[int, float]:
    from phenocell.loaders.tiles import make_loader

    loader = make_loader(dataset, batch_size=32, workers=workers, pin_memory=ctx.cuda)
    tiles, start = 0, time.perf_counter()
    for batch in loader:
        batch["image"].to(ctx.device, non_blocking=True)
        tiles += len(batch["index"])
    ctx.sync()
    return tiles, tiles / (time.perf_counter() - start)


def check_loader(ctx: Context) -> str:
    from phenocell.benchmark.config import default_workers
    from phenocell.loaders.tile_store import open_store
    from phenocell.loaders.tiles import TileDataset, load_index

    index = load_index(ctx.data, "base", "train")  # type: ignore[arg-type]
    workers = default_workers()
    store = open_store(str(ctx.work / "tiles"), index.root, {t.shard: t.size for t in index.tiles}, log=print)
    label = f"{workers} workers, batch 32, incl. start-up"
    tiles, rate = _loader_rate(ctx, TileDataset(index), workers)
    ctx.figures[f"loader tiles/s, parquet shards ({label})"] = f"{rate:.3g}"
    _, rate = _loader_rate(ctx, TileDataset(index, store=store), workers)
    ctx.figures[f"loader tiles/s, tile store ({label})"] = f"{rate:.3g}"
    return f"{tiles} tiles, each way"


def _split_tiles(ctx: Context) -> Any:
    from phenocell.loaders.tiles import SplitIndex, load_index

    splits = [load_index(ctx.data, "base", s) for s in ("train", "validation", "test")]  # type: ignore[arg-type]
    first = splits[0]
    return SplitIndex(first.root, first.family, "all", tuple(t for s in splits for t in s.tiles))


def check_fill(ctx: Context) -> str:
    from phenocell.benchmark.device import encode_batch, resolve_precision
    from phenocell.benchmark.features import TokenCache, encode, to_input
    from phenocell.benchmark.frozen import build_encoder, feature_spec
    from phenocell.loaders.tile_store import open_store
    from phenocell.loaders.tiles import SplitIndex, TileDataset, make_loader

    index = _split_tiles(ctx)
    store = open_store(str(ctx.work / "tiles"), index.root, {t.shard: t.size for t in index.tiles}, log=print)
    with ctx.device:
        enc = build_encoder("pathology/titan", small=ctx.small, random_weights=True)
    precision, batch = resolve_precision("auto", ctx.device), encode_batch(ctx.device)
    spec = feature_spec(enc.cfg, "unetr", linear_input="final_norm", unetr_taps="last4")

    def fill(k: int) -> TokenCache:
        cache = TokenCache(ctx.work / f"fill{k}", enc, index.tile_size, spec, ctx.data, precision)  # type: ignore[arg-type]
        cache.fill(enc, index, ctx.device, store=store)
        return cache

    cache = fill(0)  # warm-up (kernels, autotuning, the store's pages); checked below
    seconds = []
    for k in range(1, 4):
        start = time.perf_counter()
        fill(k)
        seconds.append(time.perf_counter() - start)
        shutil.rmtree(ctx.work / f"fill{k}")
    tiles = len(index.tiles)
    x = torch.rand(batch, 3, enc.cfg.input_size, enc.cfg.input_size, device=ctx.device)
    encoder_only = batch / _timed(ctx, lambda: encode(enc, x, spec, precision), 2 if ctx.small else 20)
    filled = tiles / min(seconds)
    label = f"ViT-L/16{' at test size' if ctx.small else ''}, 4 UNETR taps, batch {batch}, {precision.name}"
    ctx.figures[f"token-cache fill tiles/s ({label}; best of 3 fills of {tiles} tiles)"] = (
        f"{filled:.3g} = {filled / encoder_only:.2f}x encoder-only ({encoder_only:.3g} tiles/s; "
        "target >= 0.9x)"
    )
    # every row against a live encoding in the fill's own batches (FoV after FoV, batches spanning them)
    fovs = sorted({t.fov for t in index.tiles})
    ordered = SplitIndex(
        index.root, index.family, index.split, tuple(t for f in fovs for t in index.tiles if t.fov == f)
    )
    loader = make_loader(TileDataset(ordered, cache.reader()), batch_size=batch, workers=0, pin_memory=False)
    worst = 0.0
    for got in loader:
        x = to_input(got["image"].to(ctx.device), enc.cfg.input_size)
        for cached, live in zip(got["taps"], encode(enc, x, spec, precision), strict=True):
            scale = float(live.abs().max()) or 1.0
            worst = max(worst, float((cached.to(ctx.device).float() - live).abs().max()) / scale)
    if worst > 1e-2:  # identical batches: equal, or a few fp16 steps apart where kernels differ
        raise RuntimeError(f"cached features differ from a live encoding by {worst:.3g} of their range")
    files = f"{tiles} tiles in {len(fovs)} FoV files, batch {batch}"
    return f"{files}; cached = live within {worst:.1g} of the range"


def check_hovernext(ctx: Context) -> str:
    results = _run(
        ctx, "hovernext", encoder="baseline/hovernext", small=True, config=_config(ctx, batch_size=4)
    )
    score = results["metrics"]["test"][CELL_F1]
    return f"precision {_expect_precision(ctx, results)}, test {CELL_F1} {score:.4f}"


def _classes(ctx: Context) -> int:
    """Classes of the converted dataset's profile, background included (as ``benchmark run`` counts them)."""
    from phenocell.loaders.split_index import dataset_profile

    return len(dataset_profile(ctx.data).class_names)  # type: ignore[arg-type]


def check_metric(ctx: Context) -> str:
    import numpy as np

    from phenocell.benchmark.evaluate import SplitScores
    from phenocell.loaders.tiles import load_index

    batch = _batch(ctx, 8)
    semantic, instance = batch["semantic"], batch["instance"]
    gen = torch.Generator().manual_seed(0)
    classes = _classes(ctx)
    probs = torch.rand(len(semantic), classes, *semantic.shape[-2:], generator=gen).softmax(dim=1)
    index = load_index(ctx.data, "base", "train")  # type: ignore[arg-type]
    scores = {}
    for device in (torch.device("cpu"), ctx.device):
        acc = SplitScores(index, classes)
        acc.add_batch(batch, probs.to(device), semantic.to(device), instance.to(device))
        scores[device.type] = acc.result()
    cpu, dev = scores["cpu"], scores[ctx.device.type]
    for key in ("cell_confusion", "cell_unique_confusion", "pixel_confusion"):
        if not np.array_equal(cpu[key], dev[key]):
            raise RuntimeError(f"{key} differs between cpu and {ctx.device}")
    if cpu[CELL_F1] != dev[CELL_F1]:
        raise RuntimeError(f"{CELL_F1} cpu {cpu[CELL_F1]} != {ctx.device} {dev[CELL_F1]}")
    return f"{CELL_F1} {dev[CELL_F1]:.6f} on cpu and {ctx.device}"


RUNNERS: dict[str, Callable[[Context], str]] = {
    "convert": check_convert,
    "linear": check_linear,
    "unetr": check_unetr,
    "cache": check_cache,
    "augment": check_augment,
    "vit-l": check_vit_l,
    "loader": check_loader,
    "fill": check_fill,
    "hovernext": check_hovernext,
    "metric": check_metric,
}


def _parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:10s} {text}" for name, text in CHECKS.items())
    parser = argparse.ArgumentParser(
        description="Prove that this machine's GPU runs the PhenoCell benchmark (one line per check, then "
        "figures: encoder tiles/s, training step tiles/s, loader tiles/s, peak GPU memory). Exit 0: all "
        f"passed; {FAILED}: a check failed; {NO_CUDA}: no CUDA device.",
        epilog="checks, in order:\n" + listing,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu for a dry run (default: cuda)")
    parser.add_argument("--small", action="store_true", help="test-size models and batches (a CPU dry run)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the dataset and runs here")
    parser.add_argument(
        "--only", nargs="+", choices=list(CHECKS), help="run only these checks (convert always runs)"
    )
    return parser


def _run_checks(ctx: Context, names: list[str]) -> list[str]:
    failed = []
    for name in names:
        start = time.perf_counter()
        if name != "convert" and ctx.data is None:
            print(f"SKIP {name:10s} the convert check failed", flush=True)
            failed.append(name)
            continue
        try:
            detail = RUNNERS[name](ctx)
        except Exception as err:  # a check reports any failure and the others still run
            print(f"FAIL {name:10s} {type(err).__name__}: {err}", flush=True)
            traceback.print_exc(file=sys.stderr)
            failed.append(name)
            continue
        print(f"ok   {name:10s} {detail}  ({time.perf_counter() - start:.1f} s)", flush=True)
    return failed


def main(argv: list[str] | None = None) -> int:
    """Run the checks; the exit code says how it went."""
    args = _parser().parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            f"gpu_check: no CUDA device here (torch {torch.__version__}, torch.cuda.is_available() False). "
            "Run it on a machine with an NVIDIA GPU and a CUDA build of torch, or dry-run the checks on the "
            "CPU with --device cpu --small.",
            file=sys.stderr,
        )
        return NO_CUDA
    names = ["convert", *[n for n in CHECKS if n != "convert" and (not args.only or n in args.only)]]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (dry run)"
    print(
        f"gpu_check on {device} ({where}), torch {torch.__version__}, "
        f"{'small' if args.small else 'full'} size"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ctx = Context(device, args.small, work)
        failed = _run_checks(ctx, names)
    for name, value in ctx.figures.items():
        print(f"     {name}: {value}")
    total = time.perf_counter() - started
    verdict = (
        f"{len(failed)} of {len(names)} checks failed ({', '.join(failed)})"
        if failed
        else f"all {len(names)} checks passed"
    )
    print(f"{verdict} in {total:.0f} s")
    return FAILED if failed else 0


if __name__ == "__main__":
    sys.exit(main())
