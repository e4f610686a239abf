"""The card's class histogram: cells per class (log scale), one panel per split family, drawn with Pillow.

One panel per family of the card, side by side and sharing the y axis: per class three bars (train,
validation, test) in the split colours, decades ticked on the left, class names under the axis turned
70 degrees, the family as title, the splits' legend above the panels. A class with no cells in a split
gets a short stub, so an empty split shows. Pillow draws it in a few milliseconds (its own bundled font); the
same chart through matplotlib cost about a second of every conversion, import included.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from phenocell.cards.summary import DatasetSummary
from phenocell.splits import SPLITS

#: One panel's size in pixels, and the split colours (matplotlib's first three, as earlier cards).
PANEL_WIDTH, HEIGHT = 400, 360
SPLIT_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c")
#: Height drawn for a class with no cells in a split (a stub above the axis floor), and that floor.
EMPTY_BAR, AXIS_FLOOR = 0.8, 0.5
BAR_WIDTH = 0.27  # in class units: three bars and a gap per class
LABEL_ANGLE = 70
LEFT, RIGHT, TOP, GAP = 56, 10, 40, 14  # margins (px): y labels, right edge, legend and title, between panels

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _turned(text: str, font: Font, angle: int) -> Image.Image:
    """``text`` in black on a transparent image, turned ``angle`` degrees counter-clockwise."""
    left, top, right, bottom = (int(v) for v in font.getbbox(text))
    image = Image.new("LA", (right - left + 2, bottom - top + 2), (0, 0))
    ImageDraw.Draw(image).text((1 - left, 1 - top), text, font=font, fill=(0, 255))
    return image.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)


class _LogAxis:
    """Maps counts to pixel rows on a log scale from :data:`AXIS_FLOOR` to ``top`` (counts)."""

    def __init__(self, top: float, y_top: int, y_bottom: int) -> None:
        self.low, self.high = math.log10(AXIS_FLOOR), math.log10(top)
        self.y_top, self.y_bottom = y_top, y_bottom

    def y(self, count: float) -> float:
        """Pixel row of ``count``."""
        share = (math.log10(count) - self.low) / (self.high - self.low)
        return self.y_bottom - share * (self.y_bottom - self.y_top)

    def decades(self) -> list[int]:
        """The powers of ten inside the axis."""
        return [10**k for k in range(math.ceil(self.low), math.floor(self.high) + 1)]


def _panel(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], counts: list[list[float]], axis: _LogAxis
) -> list[float]:
    """Draw one family's frame, decade ticks and bars into ``box``; returns the classes' x centres."""
    x0, y0, x1, y1 = box
    classes = len(counts[0])
    unit = (x1 - x0) / (classes + 0.2)  # x from 0.4 to classes + 0.6, as class k sits at k
    centres = [x0 + (k + 0.6) * unit for k in range(classes)]
    for decade in axis.decades():
        y = axis.y(decade)
        draw.line([(x0 - 4, y), (x0, y)], fill="black")
    for k, heights in enumerate(counts):
        for centre, height in zip(centres, heights, strict=True):
            left = centre + ((k - 1) * BAR_WIDTH - BAR_WIDTH / 2) * unit
            draw.rectangle([left, axis.y(height), left + BAR_WIDTH * unit - 1, y1], fill=SPLIT_COLOURS[k])
    draw.rectangle([x0, y0, x1, y1], outline="black")
    return centres


def _legend(draw: ImageDraw.ImageDraw, x: int, y: int, font: Font) -> None:
    """Split names after their colour swatches, in one line from (``x``, ``y``), above the panels."""
    for name, colour in zip(SPLITS, SPLIT_COLOURS, strict=True):
        draw.rectangle([x, y + 2, x + 14, y + 9], fill=colour)
        draw.text((x + 18, y), name, font=font, fill="black")
        x += 30 + int(font.getlength(name))


def class_histogram(summary: DatasetSummary, path: Path) -> None:
    """Cells per class (log scale) in every split of every family, as a PNG at ``path``."""
    families, names = summary.card_families(), summary.profile.class_names[1:]
    small, large = ImageFont.load_default(size=9), ImageFont.load_default(size=12)
    labels = [_turned(name, small, LABEL_ANGLE) for name in names]
    bottom = HEIGHT - 8 - max(label.height for label in labels)
    counts = {
        family: [
            [
                max(float(summary.class_counts(family, split).get(cid, 0)), EMPTY_BAR)
                for cid in range(1, len(names) + 1)
            ]
            for split in SPLITS
        ]
        for family in families
    }
    highest = max([1.0, *(h for family in counts.values() for split in family for h in split)])
    axis = _LogAxis(highest * 1.6, TOP, bottom)
    image = Image.new("RGB", (PANEL_WIDTH * len(families), HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    for i, family in enumerate(families):
        x0, x1 = i * PANEL_WIDTH + (LEFT if i == 0 else GAP), (i + 1) * PANEL_WIDTH - RIGHT
        centres = _panel(draw, (x0, TOP, x1, bottom), counts[family], axis)
        draw.text(((x0 + x1) / 2, TOP - 6), family, font=large, fill="black", anchor="md")
        for centre, label in zip(centres, labels, strict=True):
            image.paste(label, (round(centre) - label.width + 3, bottom + 4), label)
    for decade in axis.decades():
        draw.text((LEFT - 6, axis.y(decade)), f"{decade:,}", font=small, fill="black", anchor="rm")
    title = _turned("cells", large, 90)
    image.paste(title, (2, (TOP + bottom - title.height) // 2), title)
    _legend(draw, LEFT, 6, small)
    image.save(path, format="PNG")
