"""Dataset card rendering (README.md with YAML, tables and figures)."""

from phenocell.cards.render import render_card, write_card
from phenocell.cards.summary import DatasetSummary

__all__ = ["DatasetSummary", "render_card", "write_card"]
