r"""Graph readouts: global max / mean / sum pooling, their concatenation, and the multi-scale readout."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

from ..errors import GraphclsError

__all__ = ["Readout", "MultiScaleReadout", "READOUTS"]

_POOLS = {"max": global_max_pool, "mean": global_mean_pool, "sum": global_add_pool}
READOUTS = ("max", "mean", "sum", "max+mean", "max+mean+sum")


class Readout(torch.nn.Module):
    r"""Pool node features into graph features.

    .. math::
        \mathbf{r}_g = \big\Vert_{p \in \text{mode}} \operatorname{pool}_p \{\mathbf{x}_i : i \in g\}

    with :math:`\operatorname{pool}_p` one of :math:`\max` (element-wise),
    mean and sum; a graph with no nodes gives zeros.

    Args:
        mode (str): one pooling (``"max"``, ``"mean"``, ``"sum"``) or several
            joined by ``+``, concatenated in that order (``"max+mean"`` is the
            classic MNISTSuperpixels GCN readout). (default: :obj:`"max+mean"`)

    Shapes:
        - **input:** ``x [N, F]``, ``batch [N]`` (or ``None``: one graph), ``size``
          (number of graphs, optional)
        - **output:** ``[B, m * F]`` with ``m`` = :attr:`multiplier`, the number of poolings
    """

    def __init__(self, mode: str = "max+mean") -> None:
        super().__init__()
        parts = mode.split("+")
        bad = [p for p in parts if p not in _POOLS]
        if bad or not parts:
            raise GraphclsError(f"unknown readout {mode!r}; use max, mean, sum or a '+' join such as max+mean")
        self.mode = mode
        self.parts = parts

    @property
    def multiplier(self) -> int:
        return len(self.parts)

    def forward(self, x: Tensor, batch: Optional[Tensor], size: Optional[int] = None) -> Tensor:
        if batch is None:
            batch = x.new_zeros(x.size(0), dtype=torch.long)
        return torch.cat([_POOLS[p](x, batch, size) for p in self.parts], dim=-1)

    def dense(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """The same pooling of padded node features ``x [B, N, F]``; ``mask [B, N]`` marks the real
        nodes (``None``: every graph has all ``N`` nodes)."""
        if mask is None:
            ops = {"max": lambda: x.amax(1), "mean": lambda: x.mean(1), "sum": lambda: x.sum(1)}
            return torch.cat([ops[p]() for p in self.parts], dim=-1)
        m = mask.unsqueeze(-1).to(x.dtype)
        out = []
        for p in self.parts:
            if p == "max":
                out.append(x.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1))
            elif p == "mean":
                out.append((x * m).sum(1) / m.sum(1).clamp(min=1))
            else:
                out.append((x * m).sum(1))
        return torch.cat(out, dim=-1)

    def __repr__(self) -> str:
        return f"Readout({self.mode})"


class MultiScaleReadout(torch.nn.Module):
    r"""Max- and mean-pooled node features of every stage of a network, concatenated, then a linear head.

    .. math::
        \mathbf{y}_g = \mathbf{W} \, \operatorname{Dropout}\Big(\big\Vert_{s=1}^{S}
        \big[\max_{i \in g} \mathbf{h}^{(s)}_i \,\Vert\, \operatorname{mean}_{i \in g} \mathbf{h}^{(s)}_i\big]\Big)
        + \mathbf{b}

    (a jumping-knowledge readout: the classifier sees the fine evidence of early
    stages beside the coarse evidence of late ones). Stages may have different
    node sets (after pooling); each comes with its own ``batch`` vector.

    Args:
        dims (Sequence[int]): channels of each stage.
        num_classes (int): outputs.
        dropout (float): dropout on the pooled features. (default: :obj:`0.0`)

    Shapes:
        - **input:** ``stages``: a list of ``(h [N_s, dims[s]], batch [N_s])`` and
          ``size`` (the number of graphs); or, for :meth:`forward_dense`, a list of
          ``[B, N_s, dims[s]]`` tensors (every graph the same node count)
        - **output:** ``[B, num_classes]``
    """

    def __init__(self, dims: Sequence[int], num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dims = list(dims)
        self.dropout = dropout
        self.pool = Readout("max+mean")
        self.head = torch.nn.Linear(2 * sum(self.dims), num_classes)

    def reset_parameters(self) -> None:
        self.head.reset_parameters()

    def forward(self, stages: Sequence[tuple[Tensor, Tensor]], size: int) -> Tensor:
        g = torch.cat([self.pool(h, b, size) for h, b in stages], 1)
        return self.head(F.dropout(g, self.dropout, self.training))

    def forward_dense(self, stages: Sequence[Tensor], mask: Optional[Tensor] = None) -> Tensor:
        """The same on padded stages ``[B, N_s, dims[s]]``; ``mask [B, N]`` marks the real nodes
        (``None``: all), as :meth:`Readout.dense`."""
        g = torch.cat([self.pool.dense(h, mask) for h in stages], 1)
        return self.head(F.dropout(g, self.dropout, self.training))
