"""GPR-GNN's adaptive generalized PageRank propagation (Chien et al., ICLR 2021)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from ..errors import GraphclsError
from .neighbours import SlotOperator

__all__ = ["GPRProp"]


class GPRProp(MessagePassing):
    r"""Learnable polynomial of the normalised adjacency.

    .. math::
        \mathbf{Z} = \sum_{k=0}^{K} \gamma_k \hat{\mathbf{A}}^k \mathbf{H},
        \qquad \hat{\mathbf{A}} = \hat{\mathbf{D}}^{-1/2}(\mathbf{A}+\mathbf{I})\hat{\mathbf{D}}^{-1/2}

    with :math:`\gamma` learned, initialised to personalised PageRank weights
    :math:`\gamma_k = \alpha(1-\alpha)^k`, :math:`\gamma_K = (1-\alpha)^K`.

    Args:
        K (int): propagation steps.
        alpha (float): teleport probability of the initialisation, in (0, 1].

    Shapes: ``x [N, F]``, ``edge_index [2, E]``, ``edge_weight [E]`` (optional)
    → ``[N, F]``.
    """

    def __init__(self, K: int = 10, alpha: float = 0.1) -> None:
        super().__init__(aggr="add")
        if K < 1 or not (0.0 < alpha <= 1.0):
            raise GraphclsError(f"GPRProp needs K >= 1 and 0 < alpha <= 1, got K={K}, alpha={alpha}")
        self.K = K
        self.alpha = alpha
        self.gamma = torch.nn.Parameter(torch.empty(K + 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = torch.arange(self.K + 1, dtype=torch.float)
        g = self.alpha * (1 - self.alpha) ** k
        g[-1] = (1 - self.alpha) ** self.K
        with torch.no_grad():
            self.gamma.copy_(g)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Optional[Tensor] = None) -> Tensor:
        edge_index, norm = gcn_norm(edge_index, edge_weight, x.size(0), add_self_loops=True, dtype=x.dtype)
        out = self.gamma[0] * x
        h = x
        for k in range(1, self.K + 1):
            h = self.propagate(edge_index, x=h, norm=norm)
            out = out + self.gamma[k] * h
        return out

    def forward_neighbours(self, x: Tensor, adj: SlotOperator) -> Tensor:
        """The same propagation in the fixed-degree neighbour layout: ``x [M, F]`` and :math:`\\hat{\\mathbf{A}}`
        from :func:`~pyg_graphcls.nn.neighbours.gcn_operator` → ``[M, F]``."""
        out = self.gamma[0] * x
        h = x
        for k in range(1, self.K + 1):
            h = adj(h)
            out = out + self.gamma[k] * h
        return out

    def message(self, x_j: Tensor, norm: Tensor) -> Tensor:
        return norm.view(-1, 1) * x_j

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(K={self.K}, alpha={self.alpha})"
