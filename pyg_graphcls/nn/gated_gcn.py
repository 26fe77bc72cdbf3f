r"""The residual GatedGCN layer (Bresson & Laurent 2017, in the form of Dwivedi et al. 2020)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .neighbours import NeighbourGraph

__all__ = ["GatedGCNLayer"]


class GatedGCNLayer(nn.Module):
    r"""One residual GatedGCN layer with edge gates and edge states.

    .. math::
        \hat{\mathbf{e}}_{ij} &= \mathbf{C} \mathbf{e}_{ij} + \mathbf{D} \mathbf{h}_i + \mathbf{E} \mathbf{h}_j,
        \qquad \boldsymbol{\eta}_{ij} = \frac{\sigma(\hat{\mathbf{e}}_{ij})}
        {\sum_{j' \in \mathcal{N}(i)} \sigma(\hat{\mathbf{e}}_{ij'}) + \epsilon}

        \mathbf{h}_i' &= \mathbf{h}_i + \operatorname{ReLU}\big(\operatorname{BN}(\mathbf{A} \mathbf{h}_i
        + \textstyle\sum_{j \in \mathcal{N}(i)} \boldsymbol{\eta}_{ij} \odot \mathbf{B} \mathbf{h}_j)\big),
        \qquad \mathbf{e}_{ij}' = \mathbf{e}_{ij} + \operatorname{ReLU}(\operatorname{BN}(\hat{\mathbf{e}}_{ij}))

    with dropout after each ReLU and :math:`\epsilon = 10^{-6}`. The gate is a
    per-channel soft attention that sees the edge features, so the edge input
    (e.g. relative position) decides how much of each neighbour flows in.

    Args:
        hidden (int): width of node and edge states.
        dropout (float): dropout after the activations. (default: :obj:`0.0`)
        update_edges (bool): compute :math:`\mathbf{e}'`; ``False`` (a last
            layer) returns the edges unchanged. (default: :obj:`True`)

    Shapes:
        - **input:** ``h [N, hidden]``, ``e [E, hidden]``, ``edge_index [2, E]``
          (``j = edge_index[0]`` → ``i = edge_index[1]``)
        - **output:** ``(h' [N, hidden], e' [E, hidden])``
        - :meth:`forward_neighbours`: ``h [M, hidden]``, ``e [M, k, hidden]`` (edge
          ``nbr[i, s] -> i`` in slot ``s`` of node ``i``), the
          :class:`~pyg_graphcls.nn.neighbours.NeighbourGraph` ``g``
          → ``(h' [M, hidden], e' [M, k, hidden])``
    """

    def __init__(self, hidden: int, dropout: float = 0.0, update_edges: bool = True) -> None:
        super().__init__()
        self.A, self.B, self.C, self.D, self.E = (nn.Linear(hidden, hidden) for _ in range(5))
        self.bn_h = nn.BatchNorm1d(hidden)
        self.bn_e = nn.BatchNorm1d(hidden) if update_edges else None
        self.dropout = dropout

    def reset_parameters(self) -> None:
        for m in (self.A, self.B, self.C, self.D, self.E, self.bn_h, self.bn_e):
            if m is not None:
                m.reset_parameters()

    def forward(self, h: Tensor, e: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        src, dst = edge_index
        e_hat = self.C(e) + self.D(h).index_select(0, dst) + self.E(h).index_select(0, src)
        gate = torch.sigmoid(e_hat)
        num = torch.zeros_like(h).index_add_(0, dst, gate * self.B(h).index_select(0, src))
        den = torch.zeros_like(h).index_add_(0, dst, gate)
        h_new = self.A(h) + num / (den + 1e-6)
        h_new = F.dropout(F.relu(self.bn_h(h_new)), self.dropout, self.training)
        if self.bn_e is None:
            return h + h_new, e
        e_new = F.dropout(F.relu(self.bn_e(e_hat)), self.dropout, self.training)
        return h + h_new, e + e_new

    def forward_neighbours(self, h: Tensor, e: Tensor, g: NeighbourGraph) -> tuple[Tensor, Tensor]:
        """The same layer on a fixed-degree neighbour table: gathers and sums over the slots instead
        of ``index_add``; the edge BatchNorm sees the real edges only (padding slots are left out)."""
        m, k, c = e.shape
        slot_mask = g.slot_mask
        e_hat = self.C(e) + self.D(h).unsqueeze(1) + g.gather(self.E(h))
        gate = torch.sigmoid(e_hat)
        if slot_mask is not None:
            gate = gate * slot_mask.unsqueeze(-1).to(gate.dtype)
        num = (gate * g.gather(self.B(h))).sum(1)
        h_new = self.A(h) + num / (gate.sum(1) + 1e-6)
        h_new = F.dropout(F.relu(self.bn_h(h_new)), self.dropout, self.training)
        if self.bn_e is None:
            return h + h_new, e
        flat = e_hat.reshape(m * k, c)
        if slot_mask is None:
            e_new = self.bn_e(flat)
        else:
            real = slot_mask.reshape(-1).nonzero().squeeze(1)
            e_new = torch.zeros_like(flat).index_copy(0, real, self.bn_e(flat.index_select(0, real)))
        e_new = F.dropout(F.relu(e_new), self.dropout, self.training).view(m, k, c)
        return h + h_new, e + e_new
