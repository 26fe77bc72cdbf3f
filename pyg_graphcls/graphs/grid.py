"""Pixel-grid graphs: every pixel a node, 4- or 8-neighbour edges.

The edges are PyG's ``utils.grid`` without its self-loops, ``x`` the
intensity/colour, ``pos`` ``(column, row)`` in pixels.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from ._common import graph_fields, to_data
from .edges import grid_edges
from .image import as_image

if TYPE_CHECKING:
    from torch_geometric.data import Data

__all__ = ["pixel_grid_graph", "pixel_grid_fields"]


def pixel_grid_graph(image: Any, connectivity: int = 8, *, position: bool = False,
                     edge_attr: Sequence[str] = (), y: Any = None, return_img: bool = False) -> Data:
    r"""Every pixel a node.

    Args:
        image: ``[H, W]``, ``[H, W, C]`` or ``[C, H, W]``, uint8/uint16/float.
        connectivity (int): 8 (sides and corners) or 4 (sides).
        position (bool): append the normalised ``(x/(W-1), y/(H-1))`` to ``x``.
        edge_attr: edge features (``"distance"``, ``"gaussian"``, ``"cartesian"``).
        y: optional label.
        return_img (bool): keep the image as ``img [1, C, H, W]``.

    Returns:
        ``Data(x [H*W, C(+2)], pos [H*W, 2], edge_index [2, E], image_size [1, 2])``; node
        ``r * W + c`` is pixel (row r, column c). An interior node has
        ``connectivity`` neighbours; edges go both ways.
    """
    return to_data(pixel_grid_fields(image, connectivity, position=position, edge_attr=edge_attr, y=y,
                                     return_img=return_img))


def pixel_grid_fields(image: Any, connectivity: int = 8, *, position: bool = False,
                      edge_attr: Sequence[str] = (), y: Any = None, return_img: bool = False) -> dict:
    """The graph of :func:`pixel_grid_graph` as a dict of its fields (what a conversion stores)."""
    img = as_image(image)
    h, w, c = img.shape
    rows, cols = np.divmod(np.arange(h * w), w)
    pos = torch.from_numpy(np.stack([cols, rows], 1).astype(np.float32))
    x = torch.from_numpy(img.reshape(h * w, c).copy())
    if position:
        x = torch.cat([x, pos / torch.tensor([max(w - 1, 1), max(h - 1, 1)], dtype=torch.float32)], 1)
    return graph_fields(img, x, pos, grid_edges(h, w, connectivity), edge_attr=edge_attr, y=y,
                        return_img=return_img)
