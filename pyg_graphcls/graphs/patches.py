"""Patch graphs: ViT-style non-overlapping ``p x p`` patches as nodes.

The flattened patch is the node feature, as a 16x16 stride-16 patch embedding
sees it; edges join grid-neighbour patches or the nearest patches in feature
space (as Vision GNN builds them, on L2-normalised features). Images whose
sides are not a multiple of ``p`` are zero-padded at the bottom/right.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from ..errors import GraphclsError
from ._common import graph_fields, to_data
from .edges import grid_edges, knn_graph
from .image import as_image

if TYPE_CHECKING:
    from torch_geometric.data import Data

__all__ = ["patch_graph", "patch_fields"]


def patch_graph(image: Any, patch_size: int = 4, *, edges: str = "grid", k: int = 8,
                connectivity: int = 8, position: bool = False, edge_attr: Sequence[str] = (),
                y: Any = None, return_img: bool = False) -> Data:
    r"""Non-overlapping ``patch_size x patch_size`` patches as nodes.

    Args:
        image: any supported image (see :func:`pyg_graphcls.graphs.image.as_image`).
        patch_size (int): patch side ``p``; a 224x224 image with ``p=16`` gives
            the 196 tokens of ViT-B/16.
        edges (str): ``"grid"`` (patches that touch, ``connectivity`` 4 or 8),
            ``"knn"`` (``k`` nearest patches by cosine distance of their pixel
            vectors, as Vision GNN does) or ``"none"``.
        position (bool): append the patch centre, normalised to [0, 1], to ``x``.

    Returns:
        ``Data(x [P, p*p*C(+2)], pos [P, 2], edge_index, image_size [1, 2], ...)`` with ``pos`` the
        patch centres in pixels; ``x`` rows flatten each patch in (row, column,
        channel) order. Patch ``i * gw + j`` covers rows ``i*p .. i*p+p-1``.
    """
    return to_data(patch_fields(image, patch_size, edges=edges, k=k, connectivity=connectivity, position=position,
                                edge_attr=edge_attr, y=y, return_img=return_img))


def patch_fields(image: Any, patch_size: int = 4, *, edges: str = "grid", k: int = 8,
                 connectivity: int = 8, position: bool = False, edge_attr: Sequence[str] = (),
                 y: Any = None, return_img: bool = False) -> dict:
    """The graph of :func:`patch_graph` as a dict of its fields (what a conversion stores)."""
    if not isinstance(patch_size, (int, np.integer)) or patch_size < 1:
        raise GraphclsError(f"patch_size must be a positive integer, got {patch_size!r}")
    img = as_image(image)
    h, w, c = img.shape
    p = int(patch_size)
    gh, gw = -(-h // p), -(-w // p)
    if gh * p != h or gw * p != w:
        padded = np.zeros((gh * p, gw * p, c), np.float32)
        padded[:h, :w] = img
    else:
        padded = img
    x = padded.reshape(gh, p, gw, p, c).transpose(0, 2, 1, 3, 4).reshape(gh * gw, p * p * c)
    x = torch.from_numpy(np.ascontiguousarray(x))
    gi, gj = np.divmod(np.arange(gh * gw), gw)
    pos = torch.from_numpy(np.stack([gj * p + (p - 1) / 2, gi * p + (p - 1) / 2], 1).astype(np.float32))
    if edges == "grid":
        edge_index = grid_edges(gh, gw, connectivity)
    elif edges == "knn":
        edge_index = knn_graph(x, k, cosine=True)
    elif edges == "none":
        edge_index = torch.empty(2, 0, dtype=torch.long)
    else:
        raise GraphclsError(f"edges must be 'grid', 'knn' or 'none', got {edges!r}")
    if position:
        x = torch.cat([x, torch.from_numpy(np.stack([gj, gi], 1) / np.array([max(gw - 1, 1), max(gh - 1, 1)])).float()], 1)
    return graph_fields(img, x, pos, edge_index, edge_attr=edge_attr, y=y, return_img=return_img)
