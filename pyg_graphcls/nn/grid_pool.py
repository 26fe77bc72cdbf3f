r"""Coarsen a graph by cells of its node positions: pure-torch ``voxel_grid`` + ``max_pool``."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..errors import GraphclsError

__all__ = ["grid_pool"]


def grid_pool(x: Tensor, pos: Tensor, edge_index: Tensor, batch: Tensor, size: float = 2.0,
              num_graphs: Optional[int] = None):
    r"""Merge the nodes of each graph that fall in the same cell of ``size`` pixels.

    Nodes with the same :math:`(\text{graph}, \lfloor p / s \rfloor)` become one
    node :math:`c`:

    .. math::
        \mathbf{x}_c = \max_{i \in c} \mathbf{x}_i, \qquad
        \mathbf{p}_c = \frac{1}{|c|} \sum_{i \in c} \mathbf{p}_i

    (element-wise max, mean position, so later poolings and angles stay in pixel
    units). Edges are mapped to the clusters, self-loops dropped, duplicates
    merged. On an 8-neighbour ``H x W`` grid with ``size=2`` the result is the
    8-neighbour ``H/2 x W/2`` grid (2x2 max pooling).

    Args:
        x (Tensor): ``[N, C]``.
        pos (Tensor): ``[N, 2]`` in pixels.
        edge_index (Tensor): ``[2, E]``.
        batch (Tensor): ``[N]`` graph of each node.
        size (float): cell side :math:`s` in pixels.
        num_graphs (int, optional): unused; kept for call compatibility.

    Returns:
        ``(x [M, C], pos [M, 2], edge_index [2, E'], batch [M], cluster [N])``;
        ``cluster`` maps old nodes to new.
    """
    if size <= 0:
        raise GraphclsError(f"pool size must be > 0, got {size}")
    cell = torch.floor(pos / size).long()
    cell = cell - cell.min(0).values if cell.numel() else cell
    span = int(cell.max()) + 1 if cell.numel() else 1
    key = (batch * span + cell[:, 1]) * span + cell[:, 0]
    uniq, cluster = torch.unique(key, sorted=True, return_inverse=True)
    m = uniq.numel()
    idx = cluster.unsqueeze(1).expand_as(x)
    xp = torch.zeros(m, x.size(1), dtype=x.dtype, device=x.device).scatter_reduce(
        0, idx, x, reduce="amax", include_self=False)
    cnt = torch.zeros(m, dtype=pos.dtype, device=pos.device).index_add_(0, cluster, torch.ones_like(pos[:, 0]))
    pp = torch.zeros(m, 2, dtype=pos.dtype, device=pos.device).index_add_(0, cluster, pos) / cnt.unsqueeze(1)
    bp = uniq // (span * span)
    s, d = cluster[edge_index[0]], cluster[edge_index[1]]
    keep = s != d
    ekey = torch.unique(s[keep] * m + d[keep])
    ei = torch.stack([ekey // m, ekey % m])
    return xp, pp, ei, bp, cluster
