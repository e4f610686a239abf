"""Seeded synthetic raw CODEX exports in the real layout (for the demo, tests and benchmarks).

:func:`synthesize` is imported on first use, so ``phenocell.synthetic.options`` (which the CLI reads its
defaults from) imports neither pandas nor scikit-image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from phenocell.synthetic.options import SynthOptions

if TYPE_CHECKING:
    from phenocell.synthetic.export import synthesize

__all__ = ["SynthOptions", "synthesize"]


def __getattr__(name: str) -> Any:
    """``synthesize``, imported (with pandas, tifffile and scikit-image) when first asked for."""
    if name == "synthesize":
        from phenocell.synthetic.export import synthesize

        return synthesize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
