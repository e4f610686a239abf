"""Dataset card rendering (README.md with YAML, tables and figures)."""

from phenocell.cards.render import render_card, write_card
from phenocell.cards.summary import DatasetSummary, FovSummary

__all__ = ["DatasetSummary", "FovSummary", "render_card", "write_card"]
