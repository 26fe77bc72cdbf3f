"""Image → graph builders. Each is a plain function plus a PyG ``BaseTransform``."""
from .edges import grid_edges, knn_graph, region_adjacency, gaussian_edge_weights
from .features import NODE_FEATURES, feature_names, feature_slices
from .grid import PixelGridGraph, pixel_grid_graph
from .patches import PatchGraph, patch_graph
from .image import as_image
from .batched_slic import batched_slic
from .superpixels import SuperpixelGraph, superpixel_graph, superpixel_graphs
from .labels import cooccurrence_graph, label_mask, load_label_graph, save_label_graph
from .sample_graph import edge_loss, label2edge, sample_graph

__all__ = ["as_image", "knn_graph", "region_adjacency", "grid_edges", "gaussian_edge_weights",
           "NODE_FEATURES", "feature_names", "feature_slices",
           "superpixel_graph", "SuperpixelGraph", "superpixel_graphs", "batched_slic",
           "pixel_grid_graph", "PixelGridGraph",
           "patch_graph", "PatchGraph", "build_graph", "GRAPH_KINDS", "cooccurrence_graph", "label_mask",
           "save_label_graph", "load_label_graph", "label2edge", "edge_loss", "sample_graph"]

GRAPH_KINDS = ("superpixels", "grid", "patches")


def build_graph(kind: str, image, **kwargs):
    """Dispatch by name: ``superpixels`` | ``grid`` | ``patches``."""
    from ..errors import GraphclsError
    fns = {"superpixels": superpixel_graph, "grid": pixel_grid_graph, "patches": patch_graph}
    if kind not in fns:
        raise GraphclsError(f"unknown graph kind {kind!r}; choose one of {GRAPH_KINDS}")
    return fns[kind](image, **kwargs)
