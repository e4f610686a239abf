"""Turning PhenoCell errors into clean CLI messages."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from phenocell.errors import PhenoCellError


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn PhenoCell errors into a clean message and exit status 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PhenoCellError as err:
            click.echo(f"Error: {err}", err=True)
            sys.exit(2)

    return wrapper
