"""Image → graph builders. Each is a plain function plus a PyG ``BaseTransform``.

The builders, and :func:`build_fields` (a graph as a dict of tensors), import no PyG:
``graphcls convert`` runs without it. The names that need PyG at import (the transforms
of :mod:`.transforms`, the label graphs of :mod:`.labels`) are imported on first use.
"""
from .._lazy import lazy_names

from .edges import grid_edges, knn_graph, region_adjacency, gaussian_edge_weights
from .features import NODE_FEATURES, feature_names, feature_slices
from .grid import pixel_grid_fields, pixel_grid_graph
from .patches import patch_fields, patch_graph
from .image import as_image
from .batched_slic import batched_slic
from .superpixels import superpixel_fields, superpixel_graph, superpixel_graphs
from .sample_graph import edge_loss, label2edge, sample_graph
from ._common import to_data

__all__ = ["as_image", "knn_graph", "region_adjacency", "grid_edges", "gaussian_edge_weights",
           "NODE_FEATURES", "feature_names", "feature_slices",
           "superpixel_graph", "SuperpixelGraph", "superpixel_graphs", "batched_slic",
           "pixel_grid_graph", "PixelGridGraph",
           "patch_graph", "PatchGraph", "build_graph", "build_fields", "GRAPH_KINDS", "cooccurrence_graph",
           "label_mask", "save_label_graph", "load_label_graph", "label2edge", "edge_loss", "sample_graph"]

GRAPH_KINDS = ("superpixels", "grid", "patches")

#: names imported from their module on first use: they import PyG, which the builders do not need
_ON_USE = {"SuperpixelGraph": ".transforms", "PixelGridGraph": ".transforms", "PatchGraph": ".transforms",
           "cooccurrence_graph": ".labels", "label_mask": ".labels", "load_label_graph": ".labels",
           "save_label_graph": ".labels"}

__getattr__, __dir__ = lazy_names(__name__, globals(), _ON_USE)


def build_fields(kind: str, image, **kwargs) -> dict:
    """The graph of ``build_graph(kind, image, **kwargs)`` as a dict of its fields (tensors, in the
    order of the ``Data``): what a conversion collates and stores, without PyG."""
    from ..errors import GraphclsError
    fns = {"superpixels": superpixel_fields, "grid": pixel_grid_fields, "patches": patch_fields}
    if kind not in fns:
        raise GraphclsError(f"unknown graph kind {kind!r}; choose one of {GRAPH_KINDS}")
    return fns[kind](image, **kwargs)


def build_graph(kind: str, image, **kwargs):
    """Dispatch by name: ``superpixels`` | ``grid`` | ``patches``."""
    return to_data(build_fields(kind, image, **kwargs))
