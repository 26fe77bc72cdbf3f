r"""What the graph models read from a ``Data``/``Batch``: features, positions, image sizes, named columns.

Image size: every image-derived graph carries ``data.image_size``, a ``[1, 2]``
long tensor ``(H, W)`` (so a ``Batch`` holds ``[num_graphs, 2]``); a model's
pixel scale for a graph is its larger side :math:`S_g = \max(H, W)`. A graph
without ``image_size`` (one built by hand, a PyG data set) falls back to the
extent of its positions, :math:`S_g = \lceil \max_{i \in g} \max(p_{i,x}, p_{i,y}) \rceil + 1`
(the side of the smallest square of pixels from 0 that holds every node;
28 for the positions of a 28x28 image's pixel grid).

Named columns: a model that reads particular feature groups of ``x`` takes
``columns``, a dict from group name (``"mean"``, ``"bbox"``, ``"occupancy"``, ...)
to its ``[start, stop)`` column range, as
``pyg_graphcls.graphs.features.feature_slices`` gives it.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
from torch import Tensor

from ..errors import GraphclsError
from ..nn.neighbours import NeighbourGraph, neighbour_graph

__all__ = ["check_sizes", "graph_inputs", "node_positions", "image_sides", "column_range", "Columns", "is_dense",
           "dense_graph"]

#: feature group name -> [start, stop) column range (JSON-serialisable: lists survive a checkpoint config)
Columns = Mapping[str, Sequence[int]]


def graph_inputs(data) -> tuple[Tensor, Tensor, int]:
    """``(x [N, F] float, batch [N], num_graphs)`` of a ``Data`` or ``Batch``."""
    x = data.x.float()
    if x.dim() == 1:
        x = x.unsqueeze(1)
    batch = getattr(data, "batch", None)
    if batch is None:
        batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
    size = getattr(data, "num_graphs", None) or (int(batch.max()) + 1 if batch.numel() else 1)
    return x, batch, size


def is_dense(data) -> bool:
    """Whether ``data`` is a padded neighbour batch (:class:`~pyg_graphcls.train.fast.DenseGraphBatch`)."""
    return bool(getattr(data, "is_dense_batch", False))


def dense_graph(data) -> NeighbourGraph:
    """The :class:`~pyg_graphcls.nn.neighbours.NeighbourGraph` of a padded batch (``x [B, N, F]``,
    ``mask [B, N]``, ``nbr [B, N, k]``, optional ``nbr_mask``, ``pos``, ``edge_attr``, ``image_size``)."""
    return neighbour_graph(data.x, data.mask, data.nbr, getattr(data, "nbr_mask", None), getattr(data, "pos", None),
                           getattr(data, "edge_attr", None), getattr(data, "image_size", None))


def node_positions(data) -> Tensor:
    """``data.pos`` as float ``[N, 2]`` (pixels); a clear error when the graphs have none."""
    pos = getattr(data, "pos", None)
    if pos is None:
        raise GraphclsError("this model reads node positions from data.pos (pixel units); the graphs have no "
                            "pos: build them with pyg_graphcls.graphs or keep PyG's pos")
    pos = pos.float()
    if pos.dim() != 2 or pos.size(1) != 2:
        raise GraphclsError(f"data.pos must be [num_nodes, 2], got {tuple(pos.shape)}")
    return pos


def image_sides(data, batch: Tensor, size: int, pos: Optional[Tensor] = None) -> Tensor:
    """The pixel scale :math:`S_g` of every graph, float ``[size]`` (see the module docstring)."""
    s = getattr(data, "image_size", None)
    if s is not None:
        s = torch.as_tensor(s)
        if s.numel() != 2 * size:
            raise GraphclsError(f"data.image_size must be (H, W) per graph, [{size}, 2] for this batch, got "
                                f"{tuple(s.shape)}")
        s = s.reshape(size, 2).amax(1).to(torch.float32)
        if bool((s < 1).any()):
            raise GraphclsError(f"data.image_size must be positive, got {s.tolist()}")
        return s.to(batch.device)
    pos = node_positions(data) if pos is None else pos
    ext = torch.full((size,), -1.0, dtype=pos.dtype, device=pos.device)
    if pos.numel():
        ext = ext.scatter_reduce(0, batch, pos.amax(1), reduce="amax", include_self=True)
    return (torch.ceil(ext) + 1).clamp(min=1.0).to(torch.float32)


def column_range(columns: Optional[Columns], name: str, in_channels: int) -> tuple[int, int]:
    """``(start, stop)`` of feature group ``name``; a clear error when it is missing or out of range."""
    if not columns or name not in columns:
        have = ", ".join(sorted(columns)) if columns else "none"
        raise GraphclsError(f"this model reads the {name!r} columns of x by name: pass columns={{..., {name!r}: "
                            f"[start, stop]}} (graphs.features.feature_slices); have: {have}")
    rng = [int(v) for v in columns[name]]
    if len(rng) != 2 or not 0 <= rng[0] < rng[1] <= in_channels:
        raise GraphclsError(f"columns[{name!r}] must be [start, stop) within 0..{in_channels}, got {list(columns[name])}")
    return rng[0], rng[1]


def check_sizes(in_channels: int, num_classes: int, **named: int) -> None:
    """Raise :class:`GraphclsError` unless every size is a positive int."""
    for k, v in {"in_channels": in_channels, "num_classes": num_classes, **named}.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise GraphclsError(f"{k} must be a positive int, got {v!r}")
