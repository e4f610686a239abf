"""The authors' LMDB tile database: a restricted unpickler, and reading / writing records.

The release's layout around the database is in :mod:`phenocell.storage.lmdb_layout`. Keys are
``f"{i:08}"`` (ASCII, a global counter from 0); each value is ``pickle.dumps(dict)`` with ``tile_name``,
``sample_name``, ``image`` (C, H, W), ``semantic_mask`` and ``instance_mask`` (H, W). Values are pickles,
so a downloaded release is unpickled here with an allow-list of globals (numpy array reconstruction only):
a pickle naming anything else raises :class:`UnsafeInputError` before it can run.
"""

from __future__ import annotations

import importlib
import io
import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from phenocell.errors import (
    CorruptInputError,
    InvalidInputError,
    MissingInputError,
    UnsafeInputError,
    require_package,
)
from phenocell.storage.lmdb_layout import LMDB_SUBDIR

REQUIRED_KEYS = ("tile_name", "sample_name", "image", "semantic_mask", "instance_mask")
MAP_SIZE = 1 << 40  # address space only: LMDB files grow with their content
COMMIT_EVERY = 256

#: The only globals a tile pickle may name: numpy's array / dtype / scalar reconstruction.
_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


def _numpy_global(module: str, name: str) -> Any:
    """Resolve an allowed numpy global under this numpy's module name (``numpy._core`` or ``numpy.core``)."""
    new, old = module.replace("numpy.core", "numpy._core"), module.replace("numpy._core", "numpy.core")
    for candidate in (new, old):
        try:
            return getattr(importlib.import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    raise UnsafeInputError(
        f"pickle names {module}.{name}, which this numpy lacks",
        expected="numpy array reconstruction functions",
        found=f"{module}.{name}",
        fix="read the file with the numpy version that wrote it",
    )


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, tuples, strings, numbers and numpy arrays."""

    def __init__(self, data: bytes, source: str) -> None:
        super().__init__(io.BytesIO(data))
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed numpy global; refuse every other one (nothing is imported or called)."""
        if (module, name) not in _ALLOWED:
            raise UnsafeInputError(
                f"refusing to unpickle {self.source}: it names the global {module}.{name}",
                expected="only dict / list / tuple / str / int / float values and numpy arrays",
                found=f"a reference to {module}.{name} (unpickling it could run code)",
                fix="only import LMDB releases from a source you trust; this record was not loaded",
            )
        return _numpy_global(module, name)

    def persistent_load(self, pid: Any) -> Any:
        """Refuse persistent ids (they would need custom loading code)."""
        raise UnsafeInputError(
            f"refusing to unpickle {self.source}: it uses persistent ids",
            expected="a self-contained pickle",
            found=f"persistent id {pid!r}",
            fix="only import LMDB releases from a source you trust",
        )


def safe_loads(data: bytes, *, source: str) -> Any:
    """Unpickle with :class:`RestrictedUnpickler`; a malformed pickle is a :class:`CorruptInputError`."""
    try:
        return RestrictedUnpickler(data, source).load()
    except UnsafeInputError:
        raise
    except Exception as err:  # malformed pickles raise many types
        raise CorruptInputError(
            f"cannot unpickle {source}",
            expected="a pickled dict",
            found=f"{type(err).__name__}: {err}",
            fix="re-download the release; check the LMDB file is complete",
        ) from err


def _lmdb() -> Any:
    require_package("lmdb", "lmdb", "reading and writing the authors' LMDB release")
    import lmdb

    return lmdb


def write_records(env_dir: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` pickled under keys ``f"{i:08}"`` to a new LMDB environment; returns the count."""
    lmdb = _lmdb()
    env_dir.mkdir(parents=True)
    env = lmdb.open(str(env_dir), map_size=MAP_SIZE)
    count = 0
    try:
        txn = env.begin(write=True)
        for record in records:
            txn.put(f"{count:08}".encode("ascii"), pickle.dumps(record, protocol=4))
            count += 1
            if count % COMMIT_EVERY == 0:
                txn.commit()
                txn = env.begin(write=True)
        txn.commit()
    finally:
        env.close()
    return count


def env_path(lmdb_dir: Path) -> Path:
    """The LMDB environment of a release: ``LMDB_DIR/lmdb/``, or ``LMDB_DIR`` itself if it holds data.mdb."""
    for candidate in (Path(lmdb_dir) / LMDB_SUBDIR, Path(lmdb_dir)):
        if (candidate / "data.mdb").is_file():
            return candidate
    raise MissingInputError(
        f"no LMDB environment in {lmdb_dir}",
        expected=f"{Path(lmdb_dir) / LMDB_SUBDIR / 'data.mdb'}",
        found="no data.mdb",
        fix="pass the release folder that holds lmdb/, label_dict.json and splits/",
    )


def _open_readonly(env_dir: Path) -> Any:
    """Open ``env_dir`` read-only, refusing a data.mdb shorter than its meta page says.

    LMDB maps the file and trusts its pages: reading one past the end of a truncated file kills the process
    (SIGBUS) instead of raising, so the size is checked against the last page the meta page records.
    """
    lmdb = _lmdb()
    try:
        env = lmdb.open(str(env_dir), readonly=True, lock=False, readahead=False, meminit=False)
        needed = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    except lmdb.Error as err:
        raise CorruptInputError(
            f"cannot open LMDB {env_dir}",
            expected="an LMDB environment",
            found=f"{type(err).__name__}: {err}",
            fix="re-download the release",
        ) from err
    size = (Path(env_dir) / "data.mdb").stat().st_size
    if size < needed:
        env.close()
        raise CorruptInputError(
            f"LMDB {env_dir / 'data.mdb'} is truncated",
            expected=f"at least {needed:,d} bytes (the pages its header lists)",
            found=f"{size:,d} bytes",
            fix="re-download or re-copy the release; the file was cut off",
        )
    return env


def iter_records(env_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(key, record)`` for every entry in key order, unpickled with the allow-list and checked."""
    env = _open_readonly(env_dir)
    try:
        with env.begin(write=False) as txn:
            for raw_key, value in txn.cursor():
                key = bytes(raw_key).decode("ascii", errors="replace")
                record = safe_loads(bytes(value), source=f"record {key} of {env_dir}")
                check_record(record, f"record {key} of {env_dir}")
                yield key, record
    finally:
        env.close()


def get_records(env_dir: Path, keys: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The records under ``keys``, unpickled with the allow-list and checked."""
    env = _open_readonly(env_dir)
    try:
        with env.begin(write=False) as txn:
            for key in keys:
                value = txn.get(key.encode("ascii"))
                if value is None:
                    raise CorruptInputError(
                        f"record {key} vanished from {env_dir}",
                        expected="an unchanged LMDB while importing",
                        found="no such key",
                        fix="do not modify the release while importing it",
                    )
                record = safe_loads(bytes(value), source=f"record {key} of {env_dir}")
                check_record(record, f"record {key} of {env_dir}")
                yield record
    finally:
        env.close()


def check_record(record: Any, source: str) -> None:
    """Raise :class:`InvalidInputError` unless ``record`` has the fields their loader needs, well typed."""
    missing = [k for k in REQUIRED_KEYS if not isinstance(record, dict) or k not in record]
    problems = [f"missing {missing}"] if missing else []
    if not missing:
        problems += [f"{k} is not a string" for k in REQUIRED_KEYS[:2] if not isinstance(record[k], str)]
        image, sem, inst = (record[k] for k in REQUIRED_KEYS[2:])
        if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.dtype.kind in "uif"):
            problems.append("image is not a (C, H, W) numeric array")
        for name, mask in (("semantic_mask", sem), ("instance_mask", inst)):
            if not (isinstance(mask, np.ndarray) and mask.ndim == 2 and mask.dtype.kind in "ui"):
                problems.append(f"{name} is not an (H, W) integer array")
            elif isinstance(image, np.ndarray) and image.ndim == 3 and mask.shape != image.shape[1:]:
                problems.append(f"{name} {mask.shape} does not match image {image.shape}")
    if problems:
        raise InvalidInputError(
            f"{source} is not a tile of the authors' format",
            expected=f"a dict with {list(REQUIRED_KEYS)}: strings, (C, H, W) image, (H, W) integer masks",
            found="; ".join(problems),
            fix="pass an LMDB written by the authors' tiles_to_lmdb or by phenocell export lmdb",
        )
