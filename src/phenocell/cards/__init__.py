"""Dataset card rendering."""

from phenocell.cards.render import DatasetSummary, FovSummary, render_card

__all__ = ["DatasetSummary", "FovSummary", "render_card"]
