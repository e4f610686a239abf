"""The QC review page (``index.html``), rendered from ``templates/qc_page.html`` with Jinja2 autoescaping.

Every value that comes from user data (raw path, FoV names, exclusion reasons, error messages) is escaped by
the template engine; FoV names in links are also URL-encoded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from phenocell.cards.figures import class_palette
from phenocell.schema import CLASS_NAMES, IGNORE_INDEX, IGNORE_NAME

#: Statistics columns of the page: (key in a FoV's statistics, column heading).
COLUMNS = (
    ("cells", "cells"),
    ("unmatched", "unmatched (no table row)"),
    ("dirt_or_ignored", "dirt / ignored"),
    ("below_min_area", "below min area"),
    ("area_outliers", "area outliers"),
    ("rows_without_mask_label", "table rows without mask label"),
    ("contested_pixels", "contested polygon px"),
    ("repaired_polygons", "repaired polygons"),
)

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("phenocell.cards", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    keep_trailing_newline=True,
)


def _legend() -> list[tuple[str, tuple[int, ...]]]:
    palette = class_palette()
    ids = [*range(1, len(CLASS_NAMES)), IGNORE_INDEX]
    names = [*CLASS_NAMES[1:], IGNORE_NAME]
    return [(name, tuple(int(v) for v in palette[i])) for name, i in zip(names, ids, strict=True)]


def _fov_row(fov: str, stats: dict[str, Any], excluded: dict[str, str]) -> dict[str, Any]:
    return {
        "name": fov,
        "error": stats.get("error"),
        "numbers": [stats.get(key) for key, _ in COLUMNS],
        "top_classes": list(stats.get("top_classes", {}).items()),
        "excluded": excluded.get(fov),
    }


def render_qc_page(
    raw_dir: Path, exclude_file: Path, stats: dict[str, dict[str, Any]], excluded: dict[str, str]
) -> str:
    """The page's HTML for per-FoV ``stats`` (a FoV with an ``error`` key is shown with its message)."""
    return _ENV.get_template("qc_page.html").render(
        raw=str(raw_dir),
        exclude=str(exclude_file),
        cells=sum(s.get("cells", 0) for s in stats.values()),
        legend=_legend(),
        columns=[heading for _, heading in COLUMNS],
        fovs=[_fov_row(fov, s, excluded) for fov, s in stats.items()],
    )
