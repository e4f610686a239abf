"""One reader per raw source, panoptic labelling, tiling and the conversion driver."""
