"""Building blocks: class merges, panoptic labelling of a FoV, region files and tiling layouts."""
