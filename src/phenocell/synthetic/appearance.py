"""What the synthetic tissue looks like: cluster frequencies, per-class morphology and stain, markers.

Frequencies follow the real CRC CODEX data's imbalance (tumor cells ~150x NK cells); appearance differs by
class in size, shape, nucleus size and darkness, stain colour and texture, so a model can learn it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Granular ClusterName → relative frequency; with the tumor nests of tissue.py, tumor : NK ≈ 150 : 1.
CLUSTER_WEIGHTS: dict[str, float] = {
    "tumor cells": 0.22,
    "stroma": 0.12,
    "smooth muscle": 0.05,
    "vasculature": 0.04,
    "lymphatics": 0.01,
    "CD4+ T cells": 0.04,
    "CD4+ T cells CD45RO+": 0.04,
    "CD4+ T cells GATA3+": 0.01,
    "CD8+ T cells": 0.04,
    "Tregs": 0.015,
    "CD3+ T cells": 0.01,
    "B cells": 0.04,
    "plasma cells": 0.03,
    "CD68+CD163+ macrophages": 0.03,
    "CD11b+CD68+ macrophages": 0.01,
    "CD68+ macrophages": 0.02,
    "CD68+ macrophages GzmB+": 0.005,
    "CD163+ macrophages": 0.02,
    "CD11b+ monocytes": 0.01,
    "granulocytes": 0.04,
    "CD11c+ DCs": 0.01,
    "NK cells": 0.002,
    "adipocytes": 0.01,
    "nerves": 0.006,
    "undefined": 0.02,
    "immune cells": 0.02,
    "tumor cells / immune cells": 0.01,
    "immune cells / vasculature": 0.01,
    "dirt": 0.02,
}


@dataclass(frozen=True)
class Look:
    """Morphology and stain of one class: radius (µm), aspect, nucleus fraction, RGB colours, texture."""

    radius_um: float
    aspect: float
    nucleus: float
    nucleus_rgb: tuple[int, int, int]
    cyto_rgb: tuple[int, int, int]
    texture: float
    lobes: int = 1


#: Appearance per PhenoCell class name (plus "dirt").
LOOKS: dict[str, Look] = {
    "Tumor cells": Look(7.5, 1.4, 0.62, (120, 70, 150), (205, 140, 185), 0.25),
    "Stroma": Look(6.0, 3.2, 0.45, (95, 45, 120), (235, 165, 195), 0.08),
    "Smooth muscle": Look(7.0, 4.0, 0.40, (110, 55, 135), (225, 110, 150), 0.05),
    "Vasculature/Lymphatics": Look(5.5, 2.8, 0.50, (100, 50, 125), (215, 85, 95), 0.10),
    "T cells": Look(3.6, 1.05, 0.85, (45, 20, 85), (200, 160, 200), 0.05),
    "B cells": Look(4.0, 1.1, 0.85, (60, 25, 110), (190, 150, 205), 0.05),
    "Plasma cells": Look(5.0, 1.3, 0.50, (55, 25, 100), (165, 110, 185), 0.15),
    "Macrophages/Monocytes": Look(6.5, 1.2, 0.40, (105, 70, 140), (230, 200, 215), 0.30),
    "Granulocytes": Look(5.0, 1.0, 0.30, (70, 30, 115), (240, 150, 170), 0.10, lobes=3),
    "Dendritic cells": Look(5.5, 1.8, 0.45, (90, 60, 135), (215, 190, 220), 0.20),
    "NK cells": Look(4.5, 1.0, 0.70, (50, 20, 80), (225, 175, 210), 0.35),
    "Adipocytes": Look(12.0, 1.15, 0.12, (120, 80, 140), (250, 245, 248), 0.02),
    "Nerves": Look(6.0, 2.5, 0.35, (130, 90, 150), (240, 200, 220), 0.12),
    "Other cells": Look(5.0, 1.3, 0.55, (85, 50, 125), (210, 160, 200), 0.15),
    "dirt": Look(4.0, 1.6, 1.00, (40, 30, 25), (60, 45, 35), 0.40),
}

#: A subset of the real release's marker columns; (column, classes with high expression).
MARKERS: list[tuple[str, tuple[str, ...]]] = [
    ("HOECHST1:Cyc_1_ch_1", ()),
    ("CD44 - stroma:Cyc_2_ch_2", ("Stroma",)),
    ("CD8 - cytotoxic T cells:Cyc_3_ch_2", ("T cells",)),
    ("CD45 - hematopoietic cells:Cyc_4_ch_2", ("T cells", "B cells", "Macrophages/Monocytes", "NK cells")),
    ("Ki67 - proliferation:Cyc_5_ch_4", ("Tumor cells",)),
    ("CD4 - T helper cells:Cyc_6_ch_3", ("T cells",)),
    ("CD20 - B cells:Cyc_8_ch_3", ("B cells",)),
    ("Cytokeratin - epithelia:Cyc_10_ch_2", ("Tumor cells",)),
    ("CD31 - vasculature:Cyc_19_ch_3", ("Vasculature/Lymphatics",)),
    ("aSMA - smooth muscle:Cyc_11_ch_2", ("Smooth muscle",)),
    ("CD68 - macrophages:Cyc_18_ch_4", ("Macrophages/Monocytes",)),
    ("CD56 - NK cells:Cyc_10_ch_3", ("NK cells",)),
]
