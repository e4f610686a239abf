"""Cells as objects: per-cell embeddings of any frozen encoder, shallow classifiers, AnnData for scverse.

- :mod:`.config`: the options of ``phenocell cells embed`` and ``cells classify``, declared once.
- :mod:`.pooling`: patch tokens → per-cell vectors (overlap-weighted mean, or the token under the centroid),
  merged across tiles by global cell id.
- :mod:`.pixelstats`: the ``baseline/pixel-stats`` per-cell colour / HED / area / shape features.
- :mod:`.embed`: streams a dataset FoV by FoV through an encoder (or the token cache) into rows.
- :mod:`.table`: those rows as an AnnData (``.h5ad``) and back.
- :mod:`.classify` / :mod:`.report`: scikit-learn classifiers on the embeddings, scored like the benchmark.

Needs the ``benchmark`` and ``cells`` extras (anndata, scikit-learn).
"""
