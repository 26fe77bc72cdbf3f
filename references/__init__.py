"""Experiments on top of pyg_graphcls: the accuracy table's recipes (``configs/``), its runner,
controls and results. Outside the package; run from the repository root (``python -m references.accuracy``)."""
