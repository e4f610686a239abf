"""PhenoCell: CODEX exports → panoptic H&E cell-phenotyping dataset, and its reference benchmark."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("phenocell")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
