"""sha256 of every file each source's conversion writes, to compare two versions of the code byte for byte.

Each source's seeded synthetic example is generated once under ``WORKDIR/raw`` (reused by later runs, so two
versions of the code convert the very same inputs; generators: ``phenocell synth`` and the ``tests/data``
beside ``--src``), then converted through the CLI of the code in ``--src`` into ``WORKDIR/run/`` (the same
paths every run: a QC page names its output folder) and moved to ``WORKDIR/<label>/``. The JSON written to
``--json`` maps each case to ``{relative path: sha256}`` of its output (shards, ``splits.json``,
``manifest.json``, card, QC files). ``--compare OLD.json`` prints the files whose bytes differ. Usage::

    python benchmarks/output_hashes.py --src /work/wt/pre20/src --workdir /tmp/h --label pre --json pre.json
    python benchmarks/output_hashes.py --src src --workdir /tmp/h --label new --json new.json \
        --compare pre.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SYNTH = ["--fovs", "6", "--patients", "5", "--seed", "0"]

#: How each raw example is made: a ``phenocell synth`` call or a generator script under tests/data.
RAW = {
    "codex": ["synth", *SYNTH, "--mask-size", "128x160"],
    "codex_polygons": ["synth", *SYNTH, "--mask-size", "128x160", "--segmentation", "polygons"],
    "hdf5": ["synth", *SYNTH, "--mask-size", "160x192", "--format", "phenobench-hdf5"],
    "lizard": "lizard/data.py",
    "pannuke": "pannuke/data.py",
    "arctique": "arctique/data.py",
}

#: case -> (command, raw input, extra flags); ``{out}`` is the case's output, ``{name}`` another case's.
CASES: dict[str, tuple[str, str, list[str]]] = {
    "codex": ("convert", "raw/codex", []),
    "codex_grid": ("convert", "raw/codex", ["--tiling", "grid", "--tile-size", "128"]),
    "codex_polygons": ("convert", "raw/codex_polygons", []),
    "hdf5": ("convert", "raw/hdf5", []),
    "hdf5_majority": ("convert", "raw/hdf5", ["--source", "phenobench-hdf5", "--gt-ct-labels", "majority"]),
    "hdf5_splits_from": ("convert", "raw/hdf5", ["--splits-from", "raw/authors_lmdb"]),
    "lizard": ("convert", "raw/lizard", ["--source", "lizard"]),
    "pannuke": ("convert", "raw/pannuke", ["--source", "pannuke"]),
    "arctique": ("convert", "raw/arctique", ["--source", "arctique"]),
    "lmdb_export": ("export lmdb", "{hdf5}", []),
    "lmdb_import": ("import-lmdb", "{lmdb_export}", []),
    "authors_lmdb_import": ("import-lmdb", "raw/authors_lmdb", []),
    "qc": ("qc", "raw/codex", []),
    "geojson": ("export geojson", "raw/codex", []),
}


def _run(args: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def make_raw(workdir: Path, env: dict[str, str], tests: Path) -> None:
    """Write every raw example that ``workdir/raw`` does not hold yet (generators of ``tests/data``)."""
    raw = workdir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, how in RAW.items():
        if (raw / name).exists():
            continue
        if isinstance(how, list):
            _run([sys.executable, "-m", "phenocell.cli", how[0], str(raw / name), *how[1:]], env, workdir)
        else:
            _run([sys.executable, str(tests / "data" / how), str(raw / name)], env, workdir)
    if not (raw / "authors_lmdb").exists():
        script = tests / "data" / "phenobench" / "lmdb_data.py"
        _run([sys.executable, str(script), str(raw / "hdf5"), str(raw / "authors_lmdb")], env, workdir)


def hashes(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``folder`` (LMDB page files left out: not stable)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix != ".mdb"
    }


def convert_all(workdir: Path, label: str, env: dict[str, str], only: list[str]) -> dict[str, dict[str, str]]:
    """Run every case with the code on ``env['PYTHONPATH']``; the hashes of each output."""
    root, run = workdir / label, workdir / "run"
    for folder in (root, run):
        shutil.rmtree(folder, ignore_errors=True)
    run.mkdir(parents=True)
    outputs = {name: str(run / name) for name in CASES}
    result = {}
    for name, (command, source, flags) in CASES.items():
        if only and name not in only:
            continue
        src = source.format(**outputs)
        flags = [f.replace("raw/", str(workdir / "raw") + "/") for f in flags]
        args = [*command.split(), str(src if src.startswith("/") else workdir / src)]
        args += ["--out", outputs[name], *flags]
        _run([sys.executable, "-m", "phenocell.cli", *args], env, workdir)
        result[name] = hashes(Path(outputs[name]))
        print(f"{name}: {len(result[name])} files", flush=True)
    run.rename(root)
    return result


def compare(old: dict[str, dict[str, str]], new: dict[str, dict[str, str]]) -> int:
    """Print every file whose bytes differ (or that only one side has); returns the count."""
    differ = 0
    for case in sorted(set(old) | set(new)):
        a, b = old.get(case, {}), new.get(case, {})
        for path in sorted(set(a) | set(b)):
            if a.get(path) != b.get(path):
                differ += 1
                state = "only old" if path not in b else "only new" if path not in a else "differs"
                print(f"{case}/{path}: {state}")
    print(f"{differ} files differ" if differ else "every file is byte-identical")
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, required=True, help="the src/ folder of the code to run")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--label", required=True, help="folder under WORKDIR for this run's outputs")
    parser.add_argument("--json", type=Path, required=True, help="where to write the hashes")
    parser.add_argument("--compare", type=Path, default=None, help="hashes of another run to compare with")
    parser.add_argument("--only", nargs="*", default=[], help="run only these cases")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.src.resolve()), "TQDM_DISABLE": "1"}
    make_raw(args.workdir.resolve(), env, args.src.resolve().parent / "tests")
    found = convert_all(args.workdir.resolve(), args.label, env, args.only)
    args.json.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    if args.compare:
        sys.exit(1 if compare(json.loads(args.compare.read_text()), found) else 0)


if __name__ == "__main__":
    main()
