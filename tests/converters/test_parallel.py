"""Units on a local process pool and on a Dask cluster: same bytes as serial, typed errors, dead workers."""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from phenocell.cli import convert_main, main
from phenocell.converters import workers as parallel
from phenocell.converters.codex import CodexSource
from phenocell.converters.driver import convert
from phenocell.converters.options import CodexOptions, ExecutionOptions
from phenocell.converters.workers import run_units
from phenocell.errors import CorruptInputError, InvalidOptionError, WorkerError

MIDDLE_FOV = "reg002_A"  # third of the six FoVs


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local Dask cluster: two worker processes, one thread each; yields the scheduler address."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local.scheduler_address


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_convert(raw: Path, out: Path, *flags: str) -> str:
    result = CliRunner().invoke(
        convert_main, [str(raw), "--out", str(out), "--tile-size", "128", "--quiet", *flags]
    )
    assert result.exit_code == 0, result.output
    return result.output


FIRST_FOV = "reg001_A"  # the first FoV submitted


def _first_finishes_late(inputs: CodexSource, fov: str, *, task: Any, done: Path) -> Any:
    """Run ``task``; the first FoV waits until another FoV has finished, so FoVs end out of order."""
    if fov == FIRST_FOV:
        deadline = time.monotonic() + 120
        while not any(done.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
    result = task(inputs, fov)
    (done / fov).touch()
    return result


def test_same_bytes_serial_two_workers_and_dask_cluster(
    raw_export: Path, tmp_path: Path, cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import phenocell.converters.driver as convert_module

    finished: list[list[str]] = []

    def delayed(task: Any, inputs: CodexSource, execution: ExecutionOptions, fovs: Any = None) -> Iterator:
        done = tmp_path / f"done-{len(finished)}"
        done.mkdir()
        finished.append([])
        slow = functools.partial(_first_finishes_late, task=task, done=done)
        for fov, result in run_units(slow, inputs, execution, fovs):
            finished[-1].append(fov)
            yield fov, result

    run_convert(raw_export, tmp_path / "serial", "--workers", "1")
    monkeypatch.setattr(convert_module, "run_units", delayed)  # the driver's loop, in this process
    run_convert(raw_export, tmp_path / "pool", "--workers", "2")
    run_convert(raw_export, tmp_path / "dask", "--scheduler", cluster)
    assert len(finished) == 2 and all(order[0] != FIRST_FOV and FIRST_FOV in order for order in finished)
    serial = tree_digest(tmp_path / "serial")
    assert len([f for f in serial if f.startswith("data/")]) == 6
    assert tree_digest(tmp_path / "pool") == serial
    assert tree_digest(tmp_path / "dask") == serial


@pytest.mark.parametrize("where", ["pool", "dask"])
def test_bad_fov_mid_run_gives_its_typed_error_and_leaves_nothing(
    raw_copy: Path, tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    (raw_copy / "masks" / f"{MIDDLE_FOV}.tif").write_bytes(b"this is not a tiff" * 10)
    flags = ["--workers", "2"] if where == "pool" else ["--scheduler", request.getfixturevalue("cluster")]
    out = tmp_path / "out"
    result = CliRunner().invoke(
        convert_main, [str(raw_copy), "--out", str(out), "--tile-size", "128", "--quiet", *flags]
    )
    assert result.exit_code == 2, result.output
    assert "cannot decode TIFF" in result.output and MIDDLE_FOV in result.output and "fix:" in result.output
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    execution = ExecutionOptions(workers=2, scheduler=None if where == "pool" else flags[1])
    with pytest.raises(CorruptInputError, match="cannot decode TIFF") as info:
        convert(
            raw_copy,
            out,
            options=CodexOptions(
                tiling="grid", pixel_grid="he", tile_size=128, progress=False, execution=execution
            ),
        )
    assert info.value.fix and MIDDLE_FOV in info.value.found + info.value.what
    assert not out.exists()


def _fov_name(inputs: CodexSource, fov: str) -> tuple[str, list[str], int]:
    return fov, sorted(inputs.regions), len(inputs.table.frame)


def _die_on(inputs: CodexSource, fov: str, *, victim: str, marker: Path | None = None) -> str:
    """Kill this worker process on ``victim`` (only the first time when ``marker`` is given)."""
    if fov == victim and (marker is None or not marker.exists()):
        if marker is not None:
            marker.write_text("killed once")
        os._exit(1)
    return fov


def test_each_task_gets_only_its_fov(raw_export: Path) -> None:
    inputs = CodexSource.open(raw_export, CodexOptions())
    got = dict(run_units(_fov_name, inputs, ExecutionOptions(workers=2)))
    for fov, (name, regions, rows) in got.items():
        assert name == fov and regions == [fov]
        assert rows == len(inputs.table.for_region(fov)) > 0
    assert sorted(got) == sorted(inputs.regions)
    assert inputs.for_unit("reg001_A").table.markers == inputs.table.markers


def test_killed_local_worker_is_a_typed_error(raw_export: Path) -> None:
    inputs = CodexSource.open(raw_export, CodexOptions())
    task = functools.partial(_die_on, victim=MIDDLE_FOV)
    with pytest.raises(WorkerError, match="worker died") as info:
        list(run_units(task, inputs, ExecutionOptions(workers=2)))
    assert "--workers" in info.value.fix


def test_killed_dask_worker_is_retried(raw_export: Path, tmp_path: Path, cluster: str) -> None:
    inputs = CodexSource.open(raw_export, CodexOptions())
    marker = tmp_path / "killed"
    task = functools.partial(_die_on, victim=MIDDLE_FOV, marker=marker)
    got = dict(run_units(task, inputs, ExecutionOptions(scheduler=cluster)))
    assert marker.read_text() == "killed once"  # the first try died with its worker
    assert sorted(got) == sorted(inputs.regions) and got[MIDDLE_FOV] == MIDDLE_FOV


def _flaky(inputs: CodexSource, fov: str, *, marker: Path) -> str:
    """Fail once with an unexpected error (a shared-storage hiccup), then succeed."""
    if fov == MIDDLE_FOV and not marker.exists():
        marker.write_text("failed once")
        raise OSError("stale file handle")
    return fov


def test_dask_retries_an_unexpected_error(raw_export: Path, tmp_path: Path, cluster: str) -> None:
    inputs = CodexSource.open(raw_export, CodexOptions())
    marker = tmp_path / "failed"
    task = functools.partial(_flaky, marker=marker)
    got = dict(run_units(task, inputs, ExecutionOptions(scheduler=cluster)))
    assert marker.read_text() == "failed once" and got[MIDDLE_FOV] == MIDDLE_FOV
    marker.unlink()
    with pytest.raises(OSError, match="stale file handle"):  # the local pool does not retry
        list(run_units(task, inputs, ExecutionOptions(workers=2)))


def test_qc_and_export_same_files_with_two_workers(raw_export: Path, tmp_path: Path) -> None:
    for command in (["qc"], ["export", "geojson"]):
        outs = []
        for workers in ("1", "2"):
            out = tmp_path / command[0]  # the same path each time: the QC page shows it
            result = CliRunner().invoke(
                main, [*command, str(raw_export), "--out", str(out), "--workers", workers]
            )
            assert result.exit_code == 0, result.output
            outs.append(tree_digest(out))
            out.rename(tmp_path / f"{command[0]}-{workers}")
        assert outs[0] == outs[1] and len(outs[0]) >= 6


def test_invalid_execution_options(monkeypatch: pytest.MonkeyPatch, raw_export: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match="--workers"):
        ExecutionOptions(workers=0)
    with pytest.raises(InvalidOptionError, match="scheduler"):
        ExecutionOptions(scheduler=" ")
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 1)
    result = CliRunner().invoke(
        convert_main,
        [str(raw_export), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9", "--quiet"],
    )
    assert result.exit_code == 2 and "cannot reach the Dask scheduler" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["lizard", "pannuke"])
def test_a_release_converts_on_workers_to_the_same_bytes(release_raw: Any, tmp_path: Path, name: str) -> None:
    """Every source runs on the pool: a released dataset with --workers 2 equals --workers 1."""
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"{name}-{workers}"
        flags = ["--source", name, "--tiling", "grid", "--tile-size", "64", "--workers", workers]
        args = [str(release_raw(name)), "--out", str(out), "--quiet", *flags]
        result = CliRunner().invoke(convert_main, args)
        assert result.exit_code == 0, result.output
        outs.append(tree_digest(out))
    assert outs[0] == outs[1] and any(f.startswith("data/") for f in outs[0])


class _BreaksOnSecondSubmit(ProcessPoolExecutor):
    """A pool that a worker's death has broken by the time the next unit is submitted (the race)."""

    submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        type(self).submitted += 1
        if type(self).submitted > 1:
            raise BrokenProcessPool("A child process terminated abruptly")
        return super().submit(fn, *args, **kwargs)


def test_a_pool_found_broken_on_submit_is_the_same_typed_error(
    raw_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that dies between two submits breaks the pool before its future says so: still WorkerError."""
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", _BreaksOnSecondSubmit)
    inputs = CodexSource.open(raw_export, CodexOptions())
    with pytest.raises(WorkerError, match="worker died while processing unit") as info:
        list(run_units(_fov_name, inputs, ExecutionOptions(workers=2)))
    first = inputs.units()[0]  # the one unit submitted, so the one in flight
    assert f"unit {first}\n" in str(info.value) and "--workers" in info.value.fix
