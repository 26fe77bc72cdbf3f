r"""Random-walk positional encodings (Dwivedi et al. 2022, "Graph Neural Networks with Learnable
Structural and Positional Representations"), in plain torch.

``rwpe[i, k-1] = (P^k)_{ii}``, ``P = D^{-1} A``, for ``k = 1..steps``: the
probability that a ``k``-step random walk from node ``i`` returns to ``i``. It
tells a message-passing network the local structure around a node (which it
cannot see by itself) without the sign ambiguity of Laplacian eigenvectors.

Computed per graph on dense ``[M, M]`` matrices (``M`` the largest graph of the
batch), so meant for small graphs: superpixel graphs (~75 nodes), not 784-node
pixel grids (those carry exact positions anyway).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..errors import GraphclsError

__all__ = ["random_walk_pe", "AddRandomWalkPE", "MAX_NODES"]

MAX_NODES = 2048  # dense per-graph matrices above this would be slow and large


def random_walk_pe(edge_index: Tensor, num_nodes: int, steps: int = 8, batch: Optional[Tensor] = None) -> Tensor:
    """Return-probabilities ``[num_nodes, steps]`` of random walks (edges as directed ``src -> dst``;
    a node with no out-edges stays put)."""
    if not isinstance(steps, int) or steps < 1:
        raise GraphclsError(f"steps must be a positive int, got {steps!r}")
    if num_nodes == 0:
        return torch.zeros(0, steps)
    if batch is None:
        batch = torch.zeros(num_nodes, dtype=torch.long, device=edge_index.device)
    counts = torch.bincount(batch)
    m = int(counts.max())
    if m > MAX_NODES:
        raise GraphclsError(f"random-walk PE is for small graphs: a graph has {m} nodes (> {MAX_NODES})")
    b = counts.numel()
    start = torch.zeros(b, dtype=torch.long, device=batch.device)
    start[1:] = torch.cumsum(counts, 0)[:-1]
    local = torch.arange(num_nodes, device=batch.device) - start[batch]
    src, dst = edge_index
    adj = torch.zeros(b, m, m, dtype=torch.float32, device=edge_index.device)
    adj.index_put_((batch[src], local[src], local[dst]), torch.ones(src.numel(), device=adj.device), accumulate=True)
    deg = adj.sum(-1, keepdim=True)
    eye = torch.eye(m, device=adj.device).expand(b, m, m)
    p = torch.where(deg > 0, adj / deg.clamp(min=1e-12), eye)
    out = []
    pk = p
    for k in range(steps):
        if k:
            pk = pk @ p
        out.append(pk.diagonal(dim1=1, dim2=2))
    pe = torch.stack(out, -1)  # [B, M, steps]
    return pe[batch, local]


class AddRandomWalkPE(BaseTransform):
    """Store :func:`random_walk_pe` as ``data.rwpe [num_nodes, steps]`` (precompute once, e.g. as a
    dataset ``pre_transform``/``transform``; the models compute it on the fly when it is absent)."""

    def __init__(self, steps: int = 8) -> None:
        if not isinstance(steps, int) or steps < 1:
            raise GraphclsError(f"steps must be a positive int, got {steps!r}")
        self.steps = steps

    def forward(self, data: Data) -> Data:  # type: ignore[override]
        data.rwpe = random_walk_pe(data.edge_index, data.num_nodes, self.steps)
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(steps={self.steps})"
