"""The top-level handler: typed errors exit 2 without traceback; bugs say so in one line; --debug shows it."""

from __future__ import annotations

import errno
from pathlib import Path

import click
import pyarrow as pa
import pytest
from click.testing import CliRunner

from phenocell.cli import main
from phenocell.cli_errors import friendly_errors
from phenocell.errors import InvalidInputError


def command(exc: BaseException) -> click.Command:
    @click.command()
    @click.option("--debug", is_flag=True)
    @friendly_errors
    def cmd(debug: bool) -> None:
        raise exc

    return cmd


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (InvalidInputError("bad", expected="e", found="f", fix="x"), "bad"),
        (OSError(errno.ENOSPC, "No space left on device", "/data/x"), "the disk is full"),
        (PermissionError(errno.EACCES, "Permission denied", "/root/x"), "permission denied"),
        (OSError(errno.EROFS, "Read-only file system", "/mnt/x"), "read-only"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "could not reach the remote service"),
        (pa.ArrowInvalid("bad footer"), "an input file could not be read"),
        (MemoryError(), "out of memory"),
    ],
)
def test_user_facing_errors_exit_2_without_traceback(exc: BaseException, words: str) -> None:
    result = CliRunner().invoke(command(exc), [])
    assert result.exit_code == 2 and words in result.output and "fix:" in result.output
    assert "Traceback" not in result.output


def test_a_bug_is_one_line_unless_debug() -> None:
    result = CliRunner().invoke(command(TypeError("unsupported operand")), [])
    assert result.exit_code == 1
    assert "this is a bug in phenocell" in result.output and "--debug" in result.output
    assert len(result.output.strip().splitlines()) == 1
    debug = CliRunner().invoke(command(TypeError("unsupported operand")), ["--debug"])
    assert isinstance(debug.exception, TypeError)  # the traceback is shown


def test_debug_on_the_group_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["--debug", "card", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "failed verification" in result.output  # typed errors stay clean
    monkeypatch.setenv("PHENOCELL_DEBUG", "1")
    debug = CliRunner().invoke(command(KeyError("k")), [])
    assert isinstance(debug.exception, KeyError)
