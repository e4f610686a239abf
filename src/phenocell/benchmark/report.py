"""Run reports (results.json, report.md, confusion-matrix and per-class F1 PNGs) and run comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from phenocell.benchmark.data_protocol import FOOTNOTE, mark
from phenocell.benchmark.dataset_table import dataset_table
from phenocell.benchmark.metric_names import CELL_F1, METRICS, PER_CLASS, header
from phenocell.benchmark.metrics import dice_scores, per_class_f1, present_macro_f1
from phenocell.benchmark.seeds import head_line, spread_table
from phenocell.errors import InvalidInputError, check_choice, read_json_file
from phenocell.profiles import DEFAULT_PROFILE, PHENOCELL
from phenocell.schema import CLASS_NAMES
from phenocell.splits import ALL_FAMILIES

FAMILY_ORDER = ALL_FAMILIES
SPLITS_SCORED = ("validation", "test")


def class_names(results: dict[str, Any]) -> list[str]:
    """The class names of a run's dataset (PhenoCell's for runs that predate profiles)."""
    return list(results.get("class_names") or CLASS_NAMES)


def _jsonable(results: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(
        json.dumps(results, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o))
    )
    names = class_names(results)
    for split, m in results["metrics"].items():
        out["metrics"][split]["pixel_per_class_f1"] = dict(
            zip(names[1:], per_class_f1(m["pixel_confusion"]).tolist(), strict=True)
        )
        scored = present_macro_f1(np.asarray(m["cell_confusion"]))[1]  # classes absent from both: null
        out["metrics"][split]["cell_per_class_f1"] = {
            name: scored.get(c) for c, name in enumerate(names) if c > 0
        }
        out["metrics"][split]["cell_unique_per_class_f1"] = dict(
            zip(names[1:], per_class_f1(m["cell_unique_confusion"]).tolist(), strict=True)
        )
        if "dice_confusion" in m:  # runs before Dice have none; background included, null where absent
            dice = dice_scores(np.asarray(m["dice_confusion"]))[1]
            out["metrics"][split]["dice_per_class"] = {name: dice.get(c) for c, name in enumerate(names)}
    return out


def _plot_confusion(cm: np.ndarray, path: Path, title: str, names: list[str]) -> None:
    rows = cm[1:].astype(float)
    norm = rows / np.maximum(rows.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(9, 8))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names) - 1), names[1:], fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_f1(results: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 4))
    test = results["metrics"]["test"]
    names = class_names(results)
    x = np.arange(len(names) - 1)
    ax.bar(x - 0.2, list(test["pixel_per_class_f1"].values()), 0.4, label="pixel")
    ax.bar(x + 0.2, [v or 0.0 for v in test["cell_per_class_f1"].values()], 0.4, label="cell")
    ax.set_xticks(x, names[1:], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("F1 (test)")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title(f"{results['encoder']} / {results['head']} / {results['family']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_run(out: Path, results: dict[str, Any]) -> dict[str, Any]:
    """Write the run directory; returns the JSON document written."""
    out.mkdir(parents=True, exist_ok=True)
    doc = _jsonable(results)
    (out / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    _plot_confusion(
        np.array(results["metrics"]["test"]["pixel_confusion"]),
        out / "confusion_pixel.png",
        "test pixel confusion (row-normalised)",
        class_names(doc),
    )
    _plot_confusion(
        np.array(results["metrics"]["test"]["cell_confusion"]),
        out / "confusion_cell.png",
        "test cell-fragment confusion (row-normalised)",
        class_names(doc),
    )
    _plot_f1(doc, out / "per_class_f1.png")
    m = doc["metrics"]
    lines = [
        f"# {doc['encoder']} / {doc['head']} / {doc.get('dataset', 'phenocell')} {doc['family']}",
        "",
        f"phenocell {doc['phenocell_version']}, seed {doc['seed']}, weights `{doc['weights_id']}`, "
        f"tiles {doc['tiles']}, best step {doc['training']['best_step']} of {doc['training']['steps_run']}.",
        "",
        f"Reference: {doc.get('protocol', {}).get('reference', '—')}.",
        "",
        f"Data: {_data_line(doc)}.",
        "",
        f"Protocol `{_preset(doc)}`; departures from it (training and data): {_departures(doc)}.",
        "",
        head_line(doc),
        "",
        *header(),
    ]
    lines += [f"| {s} | " + " | ".join(_f(m[s].get(k), 4) for k in METRICS) + " |" for s in SPLITS_SCORED]
    lines += [
        "",
        f"Majority-class predictor (test pixel_macro_f1): {doc['majority_class_pixel_macro_f1']:.4f}",
        "",
        "| class | pixel F1 | cell F1 | Dice |",
        "|---|---:|---:|---:|",
    ]
    dice = m["test"].get("dice_per_class", {})
    lines += [
        f"| {c} | {m['test']['pixel_per_class_f1'][c]:.3f} | {_f(m['test']['cell_per_class_f1'][c])} | "
        f"{_f(dice.get(c))} |"
        for c in class_names(doc)[1:]
    ]
    lines += ["", f"Background Dice (test; not in dice_macro): {_f(dice.get(class_names(doc)[0]))}"]
    lines += [
        "",
        "![confusion](confusion_pixel.png)",
        "![cells](confusion_cell.png)",
        "![f1](per_class_f1.png)",
        "",
    ]
    (out / "report.md").write_text("\n".join(lines))
    return doc


def _drop(base: float | None, shifted: float | None, digits: int = 2) -> str:
    return "—" if base is None or shifted is None else f"{base - shifted:+.{digits}f}"


def _f(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _data_line(doc: dict[str, Any]) -> str:
    """The run's data in one line (``protocol.data``)."""
    data = doc.get("protocol", {}).get("data")
    if not data:
        return "not recorded (a run from before protocol.data)"
    resize = data.get("resize")
    resized = f"resized {resize['from']} → {resize['to']} px ({resize['mode']})" if resize else "not resized"
    return (
        f"tiling {data['tiling']}, tiles of {data['tile_size']} px ({resized}), {data['mpp']} µm/px "
        f"(the authors': {data['reference_mpp']}), image scale {data['image_scale']}, family "
        f"{data['family']}, splits {data['split_source']}"
    )


def _preset(doc: dict[str, Any]) -> str:
    return str(doc.get("protocol", {}).get("preset", {}).get("name", "phenobench"))


def _departures(doc: dict[str, Any]) -> str:
    deps = doc.get("protocol", {}).get("departures", {})
    label = "authors" if _preset(doc) == "phenobench" else _preset(doc)
    return ", ".join(f"{k}={v['value']} ({label}: {v['reference']})" for k, v in deps.items()) or "none"


def load_run(path: Path) -> dict[str, Any]:
    """Read a run's results.json; a ``cells classify`` run's head is marked ``(cells)``."""
    fix = "pass directories written by `phenocell benchmark run` or `phenocell cells classify`"
    doc = dict(read_json_file(Path(path) / "results.json", "results.json of a benchmark run", fix))
    if doc.get("mode") == "cells":  # object-level and dense rows of one encoder side by side
        doc["head"] = f"{doc['head']} (cells)"
    return doc


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def compare(runs: list[Path], metric: str = CELL_F1) -> str:
    """The domain-shift table (paper figs. 2-3): test F1 per family, drop from base, overall and per class.

    A run of several seeds counts with its means; a table of mean ± std and ranks that account for the spread
    follows (:func:`~phenocell.benchmark.seeds.spread_table`).
    """
    docs = [load_run(r) for r in runs]
    check_choice("metric", metric, METRICS)
    if {d.get("dataset", DEFAULT_PROFILE) for d in docs} != {PHENOCELL.name}:  # the shift table: PhenoCell
        return dataset_table(docs, metric) + spread_table(docs, metric)
    names = class_names(docs[0])
    table: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    marks: dict[tuple[str, str, str], str] = {}
    for doc in docs:
        table.setdefault((doc["encoder"], doc["head"]), {})[doc["family"]] = doc["metrics"]["test"]
        marks[(doc["encoder"], doc["head"], doc["family"])] = mark(doc)
    if not any("base" in fams for fams in table.values()):
        raise InvalidInputError(
            "no base-family run to measure drops from",
            expected="at least one --family base run",
            found=str(sorted({d["family"] for d in docs})),
            fix="add the base run of each encoder/head",
        )
    per_class = PER_CLASS[metric]
    # the core shifts always get columns; the extra ones (group, msi) only when some run has them
    shifts = [
        f for f in FAMILY_ORDER[1:] if f in FAMILY_ORDER[1:3] or any(f in fams for fams in table.values())
    ]
    lines = [
        f"## test {metric} and drop from base",
        "",
        "| encoder | head | base | " + " | ".join(f"{f} | drop" for f in shifts) + " |",
        "|---|---|---:|" + "---:|---:|" * len(shifts),
    ]
    cls_lines = [
        "",
        f"## per-class drop from base (test {per_class})",
        "",
        "| encoder | head | family | " + " | ".join(names[1:]) + " |",
        "|---|---|---|" + "---:|" * (len(names) - 1),
    ]
    for (enc, head), fams in sorted(table.items()):
        base = fams.get("base")
        cells = [_num(base[metric]) + marks[(enc, head, "base")] if base else "—"]
        for fam in shifts:
            if fam in fams and base:
                value = _num(fams[fam][metric]) + marks[(enc, head, fam)]
                cells += [value, _drop(base[metric], fams[fam][metric], 4)]
                drops = [_drop(base[per_class].get(c), fams[fam][per_class].get(c)) for c in names[1:]]
                cls_lines.append(f"| {enc} | {head} | {fam} | " + " | ".join(drops) + " |")
            else:
                cells += [_num(fams[fam][metric]) + marks[(enc, head, fam)] if fam in fams else "—", "—"]
        lines.append(f"| {enc} | {head} | " + " | ".join(cells) + " |")
    if any(marks.values()):
        lines += ["", FOOTNOTE]
    return "\n".join(lines + cls_lines) + "\n" + spread_table(docs, metric)
