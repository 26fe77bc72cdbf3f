"""Pieces every image-graph builder shares: the finishing step and the wrapping into ``Data``.

A builder assembles its graph as a dict of tensor fields (:func:`graph_fields`), in the order
of the ``Data`` it returns; :func:`to_data` makes the ``Data``. A conversion stores the fields
as they are, so it never imports PyG (:mod:`~pyg_graphcls.datasets.conversion`). The transform
forms of the builders live in :mod:`~pyg_graphcls.graphs.transforms`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import GraphclsError
from .edges import edge_features

if TYPE_CHECKING:
    from torch_geometric.data import Data

__all__ = ["graph_fields", "to_data", "image_size_tensor", "image_size_of"]


def image_size_tensor(height: int, width: int, device=None) -> Tensor:
    """``[[H, W]]`` (long ``[1, 2]``): the ``image_size`` every image-derived graph carries, so that
    a ``Batch`` of graphs stacks them ``[B, 2]``."""
    return torch.tensor([[int(height), int(width)]], dtype=torch.long, device=device)


def image_size_of(data: Data) -> tuple[float, float]:
    """``(H, W)`` of the image a graph was built from (its ``image_size [1, 2]``)."""
    size = getattr(data, "image_size", None)
    if size is None:
        raise GraphclsError("the graph has no 'image_size' [1, 2] (H, W): build it with this package's "
                            "builders or set data.image_size")
    size = torch.as_tensor(size).view(-1, 2)
    if size.size(0) != 1 and not bool((size == size[:1]).all()):
        raise GraphclsError("image_size differs between the graphs of this batch; apply per graph")
    return float(size[0, 0]), float(size[0, 1])


def graph_fields(img: np.ndarray, x: Tensor, pos: Tensor, edge_index: Tensor, *, edge_attr: Sequence[str] = (),
                 y: Any = None, return_img: bool = False) -> dict:
    """The fields of a graph: ``x``, ``edge_index``, ``pos``, edge features (distances over the larger
    image side), the label (``[1]`` for a class id, ``[1, C]`` for a vector), the image size
    ``image_size [1, 2]`` = ``(H, W)`` and optionally the image as ``img [1, C, H, W]``; in this
    order, the order of the ``Data`` :func:`to_data` makes of them."""
    fields = {"x": x, "edge_index": edge_index, "pos": pos}
    ea = edge_features(pos, edge_index, edge_attr, scale=float(max(img.shape[:2])))
    if ea is not None:
        fields["edge_attr"] = ea
    if y is not None:
        t = torch.as_tensor(y)
        fields["y"] = t.view(-1)[:1].long() if t.numel() == 1 else t.view(1, -1)
    fields["image_size"] = image_size_tensor(img.shape[0], img.shape[1])
    if return_img:
        fields["img"] = torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).contiguous()
    return fields


def to_data(fields: dict) -> Data:
    """A PyG ``Data`` holding ``fields``, its attributes in the dict's order."""
    from torch_geometric.data import Data

    data = Data()
    for key, value in fields.items():
        setattr(data, key, value)
    return data
