"""Graph readouts: global max / mean / sum pooling and their concatenation."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

from ..errors import GraphclsError

__all__ = ["Readout", "READOUTS"]

_POOLS = {"max": global_max_pool, "mean": global_mean_pool, "sum": global_add_pool}
READOUTS = ("max", "mean", "sum", "max+mean", "max+mean+sum")


class Readout(torch.nn.Module):
    r"""Pool node features ``[N, F]`` into graph features ``[B, m*F]``.

    ``mode`` is one pooling (``max``, ``mean``, ``sum``) or several joined by
    ``+``, concatenated in that order (``max+mean`` is the classic
    MNISTSuperpixels GCN readout); ``m`` is the number of poolings.
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

    def dense(self, x: Tensor, mask: Tensor) -> Tensor:
        """The same pooling of padded node features ``x [B, N, F]`` with ``mask [B, N]`` (real nodes)."""
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
