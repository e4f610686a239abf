"""Several seeds of one run: the seed list, the mean ± std summary, and ranks that account for the spread.

A run with more than one seed writes one run directory per seed (``seed-<s>/``) and, beside them, a summary
``results.json`` and ``report.md``: every score as mean ± sample standard deviation (n - 1) over the seeds,
and each seed's value. ``benchmark compare`` reads a summary like a run (its ``metrics`` are the means) and
adds a table with ± and a rank per dataset and family: a run's rank is a range, from 1 + the runs clearly
ahead of it to N - the runs it is clearly ahead of, where A is clearly ahead of B when
mean_A - std_A > mean_B + std_B. Runs whose spreads overlap share ranks (``1-2``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from phenocell.benchmark.metric_names import METRICS, PER_CLASS
from phenocell.errors import InvalidOptionError
from phenocell.profiles import DEFAULT_PROFILE

SPLITS = ("validation", "test")
HEADER = ("phenocell_version", "dataset", "class_names", "family", "encoder", "head", "data", "weights_id")


def seed_list(seeds: Sequence[int], count: int) -> list[int]:
    """The seeds to run: ``seeds`` when it names several, else ``count`` seeds from ``seeds[0]`` on."""
    if len(set(seeds)) != len(seeds):
        raise InvalidOptionError(
            "repeated seed",
            expected="distinct seeds",
            found=", ".join(map(str, seeds)),
            fix="name each seed once (--seed 1,2,3) or pass --seeds N",
        )
    if len(seeds) > 1:
        if count not in (1, len(seeds)):
            raise InvalidOptionError(
                "--seed list and --seeds disagree",
                expected=f"--seeds {len(seeds)} (or no --seeds) with {len(seeds)} seeds named",
                found=f"--seeds {count}",
                fix="pass either a --seed list or --seeds N",
            )
        return list(seeds)
    return [seeds[0] + i for i in range(count)]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def _mean_per_class(dicts: list[dict[str, float | None]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name in dicts[0]:
        values = [float(v) for d in dicts if (v := d.get(name)) is not None]
        out[name] = float(np.mean(values)) if values else None
    return out


def summarise(docs: list[dict[str, Any]], dirs: list[str]) -> dict[str, Any]:
    """The summary document of several seeds' ``results.json`` (means, stds, each seed's scores)."""
    first = docs[0]
    metrics: dict[str, dict[str, Any]] = {}
    spread: dict[str, dict[str, float]] = {}
    per_seed: dict[str, dict[str, list[float]]] = {}
    for split in SPLITS:
        runs = [d["metrics"][split] for d in docs]
        per_seed[split] = {k: [float(r[k]) for r in runs] for k in METRICS if k in runs[0]}
        stats = {k: mean_std(v) for k, v in per_seed[split].items()}
        metrics[split] = {k: m for k, (m, _) in stats.items()}
        metrics[split] |= {
            k: _mean_per_class([r[k] for r in runs]) for k in PER_CLASS.values() if k in runs[0]
        }
        spread[split] = {k: s for k, (_, s) in stats.items()}
    return {
        **{k: first[k] for k in HEADER if k in first},
        "protocol": first.get("protocol"),
        "head_parameters": first.get("head_parameters"),
        "seeds": [d["seed"] for d in docs],
        "runs": dirs,
        "metrics": metrics,
        "metrics_std": spread,
        "metrics_per_seed": per_seed,
    }


def write_summary(out: Path, docs: list[dict[str, Any]], dirs: list[str]) -> dict[str, Any]:
    """Write the summary ``results.json`` and ``report.md`` of several seeds into ``out``."""
    doc = summarise(docs, dirs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "report.md").write_text(summary_markdown(doc))
    return doc


def summary_markdown(doc: dict[str, Any]) -> str:
    """report.md of a seed summary: mean ± std per split and score, then each seed's test scores."""
    preset = (doc.get("protocol") or {}).get("preset", {}).get("name", "phenobench")
    seeds = doc["seeds"]
    lines = [
        f"# {doc['encoder']} / {doc['head']} / {doc.get('dataset', 'phenocell')} {doc['family']}: "
        f"{len(seeds)} seeds",
        "",
        f"Protocol `{preset}`; seeds {', '.join(map(str, seeds))} (one run directory each: "
        f"{', '.join(doc['runs'])}). Mean ± sample standard deviation over the seeds.",
        "",
        "| split | " + " | ".join(METRICS) + " |",
        "|---|" + "---:|" * len(METRICS),
    ]
    for split in SPLITS:
        cells = [
            f"{doc['metrics'][split][k]:.4f} ± {doc['metrics_std'][split][k]:.4f}"
            for k in METRICS
            if k in doc["metrics"][split]
        ]
        lines.append(f"| {split} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| seed | " + " | ".join(f"test {k}" for k in METRICS) + " |",
        "|---|" + "---:|" * len(METRICS),
    ]
    test = doc["metrics_per_seed"]["test"]
    for i, seed in enumerate(seeds):
        lines.append(f"| {seed} | " + " | ".join(f"{test[k][i]:.4f}" for k in METRICS if k in test) + " |")
    return "\n".join([*lines, "", head_line(doc)]) + "\n"


def head_line(doc: dict[str, Any]) -> str:
    """One line: the head's trainable parameters, and its size at two encoder widths."""
    params = doc.get("head_parameters") or {}
    if not params:
        return ""
    widths = ", ".join(f"{n:,} at encoder width {w}" for w, n in params.get("at_width", {}).items())
    return f"Head `{doc['head']}`: {params['parameters']:,} trainable parameters" + (
        f" ({widths})." if widths else "."
    )


def spread_ranks(values: list[tuple[float, float]]) -> list[str]:
    """Rank ranges of (mean, std) pairs, higher is better: ``"1"`` or ``"1-3"`` where spreads overlap."""
    ranks = []
    for mean, std in values:
        ahead = sum(1 for m, s in values if m - s > mean + std)
        behind = sum(1 for m, s in values if mean - std > m + s)
        best, worst = 1 + ahead, len(values) - behind
        ranks.append(str(best) if best == worst else f"{best}-{worst}")
    return ranks


def spread_table(docs: list[dict[str, Any]], metric: str) -> str:
    """Markdown: test ``metric`` as mean ± std per run, ranked within each dataset and family."""
    if not any(d.get("metrics_std") for d in docs):
        return ""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for doc in docs:
        groups.setdefault((doc.get("dataset", DEFAULT_PROFILE), doc["family"]), []).append(doc)
    lines = [
        "",
        f"## test {metric} over seeds (mean ± std; rank by spread: overlapping runs share ranks)",
        "",
        "| dataset | family | encoder | head | seeds | mean ± std | rank |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for (dataset, family), group in sorted(groups.items()):
        stats = [
            (
                float(d["metrics"]["test"][metric]),
                float((d.get("metrics_std") or {}).get("test", {}).get(metric, 0.0)),
            )
            for d in group
        ]
        order = sorted(range(len(group)), key=lambda i: -stats[i][0])
        ranks = spread_ranks(stats)
        for i in order:
            d, (m, s) = group[i], stats[i]
            n = len(d.get("seeds", [d.get("seed")]))
            lines.append(
                f"| {dataset} | {family} | {d['encoder']} | {d['head']} | {n} | {m:.4f} ± {s:.4f} "
                f"| {ranks[i]} |"
            )
    return "\n".join(lines) + "\n"
