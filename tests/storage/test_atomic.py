"""Atomic output: one lock per --out, a unique partial per run, stale partials of dead runs cleaned."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from phenocell.cli import convert_main
from phenocell.errors import OutputLockedError, SystemResourceError
from phenocell.storage.atomic import atomic_directory, clean_stale_partials

ARGS = ["--tile-size", "128", "--quiet"]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_second_run_on_the_same_out_is_refused_while_the_first_runs(raw_export: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_directory(out) as first:
        (first / "marker").write_text("first run")
        (first / "manifest.json").write_text('{"phenocell_version": "0"}')  # what a real run leaves
        result = CliRunner().invoke(convert_main, [str(raw_export), "--out", str(out), *ARGS])
        assert result.exit_code == 2 and "another phenocell run is writing" in result.output
        assert "Traceback" not in result.output and (first / "marker").exists()
    assert (out / "marker").read_text() == "first run"
    assert not (tmp_path / ".out.lock").exists()
    again = CliRunner().invoke(convert_main, [str(raw_export), "--out", str(out), "--overwrite", *ARGS])
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_each_run_gets_its_own_partial(tmp_path: Path) -> None:
    with atomic_directory(tmp_path / "a") as one:
        pass
    with atomic_directory(tmp_path / "b") as two:
        assert one.name.startswith(".a.partial-") and two.name.startswith(".b.partial-")
        assert str(os.getpid()) in two.name
    with pytest.raises(OutputLockedError), atomic_directory(tmp_path / "c"), atomic_directory(tmp_path / "c"):
        pass


def test_stale_lock_and_partials_of_a_dead_run_are_cleaned(raw_export: Path, tmp_path: Path) -> None:
    pid = dead_pid()
    (tmp_path / ".out.lock").write_text(f"{pid} {socket.gethostname()}\n")
    stale = tmp_path / f".out.partial-{pid}-deadbeef"
    (stale / "data").mkdir(parents=True)
    (stale / "data" / "x.parquet").write_bytes(b"half")
    live = tmp_path / f".out.partial-{os.getpid()}-cafe"  # a live process's partial is never touched
    live.mkdir()
    result = CliRunner().invoke(convert_main, [str(raw_export), "--out", str(tmp_path / "out"), *ARGS])
    assert result.exit_code == 0, result.output
    assert not stale.exists() and live.exists() and not (tmp_path / ".out.lock").exists()


def test_lock_of_another_host_is_respected(tmp_path: Path) -> None:
    (tmp_path / ".out.lock").write_text(f"{dead_pid()} some-other-host\n")
    with pytest.raises(OutputLockedError, match="some-other-host"), atomic_directory(tmp_path / "out"):
        pass
    assert (tmp_path / ".out.lock").exists()


def test_clean_stale_partials_ignores_unrelated_names(tmp_path: Path) -> None:
    for name in (".out.partial-notapid", ".other.partial-1-x", "out"):
        (tmp_path / name).mkdir()
    assert clean_stale_partials(tmp_path / "out") == []


NO_PROC = not Path("/proc/self").is_dir()


@pytest.mark.skipif(NO_PROC, reason="needs Linux's /proc (a file system without new folders)")
def test_an_out_whose_folder_cannot_be_created_names_out_not_the_lock() -> None:
    """--out on /proc: the message is about --out and says why, not the internal '.x.lock' file."""
    with (
        pytest.raises(SystemResourceError, match=r"cannot create output directory /proc/x") as err,
        atomic_directory(Path("/proc/x")),
    ):
        pytest.fail("no work may start")
    assert ".lock" not in str(err.value) and "/proc" in err.value.found and "--out" in err.value.fix


def test_a_late_writer_cannot_keep_a_failed_runs_partial_alive(tmp_path: Path) -> None:
    """A Dask task that could not be cancelled keeps writing shards while the failed run cleans up."""
    out = tmp_path / "out"
    started, stop = threading.Event(), threading.Event()
    written: list[int] = []

    def late_writer(partial: Path) -> None:
        while not stop.is_set():
            try:
                (partial / "data" / f"{len(written)}.parquet.writing").write_bytes(b"x" * 64)
            except FileNotFoundError:  # the partial is gone: the task fails, as a cancelled one may
                return
            written.append(1)
            started.set()

    with pytest.raises(RuntimeError, match="bad FoV"), atomic_directory(out) as partial:
        (partial / "data").mkdir()
        writer = threading.Thread(target=late_writer, args=(partial,))
        writer.start()
        started.wait(10)
        raise RuntimeError("bad FoV")  # the writer runs on through the clean-up
    stop.set()
    writer.join(10)
    assert written and not writer.is_alive()
    assert not out.exists() and not list(tmp_path.glob(".out*"))
