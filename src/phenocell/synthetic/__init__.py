"""Seeded synthetic raw CODEX exports in the real layout (for the demo, tests and benchmarks)."""

from phenocell.synthetic.export import synthesize
from phenocell.synthetic.options import SynthOptions

__all__ = ["SynthOptions", "synthesize"]
