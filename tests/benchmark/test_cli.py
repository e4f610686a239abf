"""`phenocell benchmark run` options are derived from TrainConfig: same defaults, same choices."""

from __future__ import annotations

import typing
from dataclasses import MISSING, fields
from typing import Literal, get_args, get_origin

import click

from phenocell.benchmark.cli import NOT_ON_CLI, benchmark_run
from phenocell.benchmark.config import TrainConfig


def _literal(annotation: object) -> object | None:
    """The ``Literal[...]`` of a field annotation, also inside ``Literal[...] | None``."""
    for arg in (annotation, *get_args(annotation)):
        if get_origin(arg) is Literal:
            return arg
    return None


def test_cli_defaults_and_choices_equal_the_dataclass() -> None:
    params = {p.name: p for p in benchmark_run.params}
    hints = typing.get_type_hints(TrainConfig)
    checked = 0
    for f in fields(TrainConfig):
        if f.name in NOT_ON_CLI:
            continue
        param = params[f.name]
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        assert param.default == default, f.name
        if _literal(hints[f.name]) is not None:
            assert isinstance(param.type, click.Choice), f.name
            assert list(param.type.choices) == list(get_args(_literal(hints[f.name]))), f.name
        checked += 1
    assert checked == len(fields(TrainConfig)) - len(NOT_ON_CLI)


def test_every_choice_option_comes_from_a_literal_field() -> None:
    hints = typing.get_type_hints(TrainConfig)
    for param in benchmark_run.params:
        if isinstance(param.type, click.Choice) and param.name in hints:
            assert _literal(hints[param.name]) is not None, param.name


def test_heads_lists_the_registry_and_run_refuses_an_unknown_head_before_reading_data() -> None:
    from click.testing import CliRunner

    from phenocell.benchmark.cli import benchmark

    listed = CliRunner().invoke(benchmark, ["heads"])
    assert listed.exit_code == 0
    assert [line.split()[0] for line in listed.output.splitlines()] == [
        "constant",
        "linear",
        "unetr",
        "unetr-compact",
    ]
    args = ["run", "--data", "no-such-dir", "--family", "base", "--encoder", "test/vit-tiny", "--head", "mlp"]
    refused = CliRunner().invoke(benchmark, args)
    assert refused.exit_code == 2, refused.output
    assert "unknown head 'mlp'" in refused.output
    assert "one of constant, linear, unetr, unetr-compact" in refused.output


def test_a_count_out_of_range_names_its_flag_before_reading_data() -> None:
    """--batch-size 0 / --steps -1: the message names the flag a CLI user typed, not only the field."""
    from click.testing import CliRunner

    from phenocell.benchmark.cli import benchmark

    base = [
        "run",
        "--data",
        "no-such-dir",
        "--family",
        "base",
        "--encoder",
        "test/vit-tiny",
        "--head",
        "linear",
    ]
    for flag, value, expected in (
        ("--batch-size", "0", "> 0"),
        ("--steps", "-1", "> 0"),
        ("--workers", "-2", ">= 0"),
    ):
        refused = CliRunner().invoke(benchmark, [*base, flag, value])
        assert refused.exit_code == 2, refused.output
        assert f"pass {flag} as an integer {expected}" in refused.output, refused.output
        assert "no-such-dir" not in refused.output  # refused before the data is looked for
