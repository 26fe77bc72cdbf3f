"""Image → graph builders. Each is a plain function plus a PyG ``BaseTransform``."""
from .edges import grid_edges, knn_graph, region_adjacency, gaussian_edge_weights
from .grid import PatchGraph, PixelGridGraph, patch_graph, pixel_grid_graph
from .image import as_image
from .superpixels import SuperpixelGraph, superpixel_graph

__all__ = ["as_image", "knn_graph", "region_adjacency", "grid_edges", "gaussian_edge_weights",
           "superpixel_graph", "SuperpixelGraph", "pixel_grid_graph", "PixelGridGraph",
           "patch_graph", "PatchGraph", "build_graph", "GRAPH_KINDS"]

GRAPH_KINDS = ("superpixels", "grid", "patches")


def build_graph(kind: str, image, **kwargs):
    """Dispatch by name: ``superpixels`` | ``grid`` | ``patches``."""
    from ..errors import GraphclsError
    fns = {"superpixels": superpixel_graph, "grid": pixel_grid_graph, "patches": patch_graph}
    if kind not in fns:
        raise GraphclsError(f"unknown graph kind {kind!r}; choose one of {GRAPH_KINDS}")
    return fns[kind](image, **kwargs)
