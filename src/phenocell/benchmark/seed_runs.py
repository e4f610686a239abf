"""``benchmark run`` over several seeds: one run directory per seed, then their mean ± std summary."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from phenocell.benchmark.config import TrainConfig
from phenocell.benchmark.report import load_run
from phenocell.benchmark.run import run_benchmark
from phenocell.benchmark.seeds import write_summary


def run_seeds(
    data: str | Path, *, out: Path, seeds: list[int], config: TrainConfig, log: Any = print, **kw: Any
) -> dict[str, Any]:
    """Run :func:`run_benchmark` once per seed; with one seed, the run directory is ``out`` itself.

    With several, seed ``s`` writes ``out/seed-<s>/`` and ``out`` gets the summary ``results.json`` and
    ``report.md`` (:func:`~phenocell.benchmark.seeds.write_summary`). Each run's config records the seed
    count (``seeds``) and its own ``seed``; ``kw`` goes to :func:`run_benchmark` unchanged.
    """
    if len(seeds) == 1:
        return run_benchmark(data, out=out, config=replace(config, seed=seeds[0], seeds=1), log=log, **kw)
    docs, dirs = [], []
    for i, seed in enumerate(seeds):
        log(f"seed {seed} ({i + 1} of {len(seeds)})")
        dirs.append(f"seed-{seed}")
        cfg = replace(config, seed=seed, seeds=len(seeds))
        run_benchmark(data, out=Path(out) / dirs[-1], config=cfg, log=log, **kw)
        docs.append(load_run(Path(out) / dirs[-1]))  # as written: with the per-class scores
    summary = write_summary(Path(out), docs, dirs)
    where = f"{Path(out) / 'results.json'} and {Path(out) / 'report.md'}"
    log(f"wrote {where} (mean ± std over {len(seeds)} seeds)")
    return summary
