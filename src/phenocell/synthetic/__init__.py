"""Seeded synthetic raw CODEX exports in the real layout (for the demo, tests and benchmarks)."""

from phenocell.synthetic.export import SynthOptions, synthesize

__all__ = ["SynthOptions", "synthesize"]
