"""Typed errors keep their class, fields and message through pickling (worker processes send them back)."""

from __future__ import annotations

import inspect
import pickle

import pytest

from phenocell import errors
from phenocell.errors import PhenoCellError

ERROR_CLASSES = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, PhenoCellError) and cls.__module__ == errors.__name__
]


def test_every_error_class_is_listed() -> None:
    assert len(ERROR_CLASSES) >= 9 and errors.WorkerError in ERROR_CLASSES


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_error_survives_pickling_with_its_fields(cls: type[PhenoCellError]) -> None:
    err = cls("bad FoV reg002_A", expected="a TIFF", found="12 bytes of text", fix="re-export the mask")
    err.fov = "reg002_A"  # an extra attribute a caller may set travels too
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls
    assert (back.what, back.expected, back.found, back.fix) == (err.what, err.expected, err.found, err.fix)
    assert str(back) == str(err) and "expected: a TIFF" in str(back)
    assert back.fov == "reg002_A"
    assert all(isinstance(back, base) for base in cls.__mro__ if issubclass(base, Exception))
