r"""Direction-aware graph convolution: a weight matrix per direction of ``pos_j - pos_i``.

An isotropic layer (GCN, GIN) sums neighbours with weights that do not depend
on *where* they are, so on a pixel grid it is a blurring filter; this layer
tells the neighbour to the left from the one above, and on an 8-neighbour grid
with ``aggr="sum"`` it is exactly a 3x3 convolution (zero padding at the
border). Geometry is read from node positions (pixel units), not from
``edge_attr``. Pure torch: no torch_scatter.
"""
from __future__ import annotations

import math
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import GraphclsError
from .neighbours import SlotOperator

__all__ = ["DirectionalConv", "DirectionalBlock", "direction_basis", "neighbour_basis", "relative_positions",
           "full_grid_layout"]

Basis = tuple[Tensor, Optional[Tensor], Optional[Tensor]]


def relative_positions(pos: Tensor, edge_index: Tensor, scale: Union[float, Tensor]) -> Tensor:
    r"""Edge geometry :math:`(\Delta x, \Delta y, \lVert\Delta\rVert) / s` with
    :math:`\Delta = p_{\text{src}} - p_{\text{dst}}`.

    Args:
        pos (Tensor): node positions ``[N, 2]`` in pixels.
        edge_index (Tensor): ``[2, E]``.
        scale (float or Tensor): the divisor :math:`s` (the image side in
            pixels), one number or one per edge ``[E]`` / ``[E, 1]``.

    Shapes: ``[E, 3]``.
    """
    d = pos[edge_index[0]] - pos[edge_index[1]]
    if torch.is_tensor(scale) and scale.dim() == 1:
        scale = scale.unsqueeze(1)
    d = d / scale
    return torch.cat([d, d.norm(dim=-1, keepdim=True)], 1)


def direction_basis(pos: Tensor, edge_index: Tensor, directions: int = 8) -> Basis:
    r"""Which direction kernels each edge uses, and with what weight.

    The angle of :math:`p_{\text{src}} - p_{\text{dst}}` is mapped to
    :math:`t = \operatorname{atan2}(\Delta y, \Delta x) / (2\pi / K) \bmod K`;
    the edge uses kernels :math:`\lfloor t \rfloor` and
    :math:`\lfloor t \rfloor + 1 \pmod K` with weights :math:`1 - \phi` and
    :math:`\phi = t - \lfloor t \rfloor` (a degree-1 B-spline over the angle, as
    SplineCNN uses over its pseudo-coordinates). With :math:`K = 8` the eight
    neighbours of a pixel fall exactly on kernel centres.

    Args:
        pos (Tensor): ``[N, 2]``.
        edge_index (Tensor): ``[2, E]``.
        directions (int): :math:`K`.

    Returns:
        ``(lo [E], hi [E], frac [E])``; ``hi`` and ``frac`` are ``None`` when every
        edge sits on a kernel centre (then only ``lo`` is used).
    """
    return _offset_basis(pos[edge_index[0]] - pos[edge_index[1]], directions)


def neighbour_basis(pos: Tensor, nbr: Tensor, directions: int = 8) -> Basis:
    r""":func:`direction_basis` of the edges ``nbr[i, s] -> i`` of a fixed-degree neighbour table.

    Args:
        pos (Tensor): ``[M, 2]``.
        nbr (Tensor): ``[M, k]`` (see :class:`~pyg_graphcls.nn.neighbours.NeighbourGraph`).
        directions (int): :math:`K`.

    Returns:
        ``(lo [M, k], hi [M, k], frac [M, k])`` (``hi``, ``frac`` ``None`` as in :func:`direction_basis`).
    """
    d = pos.index_select(0, nbr.reshape(-1)).view(*nbr.shape, 2) - pos.unsqueeze(1)
    return _offset_basis(d, directions)


def _offset_basis(d: Tensor, directions: int) -> Basis:
    t = torch.atan2(d[..., 1], d[..., 0]) * (directions / (2 * math.pi))
    t = torch.remainder(t, directions)
    r = torch.round(t)
    if d.numel() == 0 or bool(((t - r).abs() < 1e-4).all()):
        return torch.remainder(r.long(), directions), None, None
    lo = torch.floor(t)
    frac = t - lo
    lo = lo.long() % directions
    return lo, (lo + 1) % directions, frac


class DirectionalConv(nn.Module):
    r"""Direction-aware graph convolution.

    .. math::
        \mathbf{x}_i' = \mathbf{W}_0 \mathbf{x}_i + \mathbf{b} +
        \operatorname{aggr}_{j \in \mathcal{N}(i)}
        \big[(1 - \phi_{ij}) \mathbf{W}_{k_{ij}} + \phi_{ij} \mathbf{W}_{k_{ij}+1}\big] \mathbf{x}_j

    with :math:`K` matrices :math:`\mathbf{W}_k`, one per direction, and
    :math:`(k_{ij}, \phi_{ij})` from :func:`direction_basis`; ``aggr`` is a sum
    or a mean over the incoming edges. On an 8-neighbour grid with
    ``aggr="sum"`` and :math:`K = 8` it is a 3x3 convolution
    (:meth:`grid_weight`, :meth:`forward_grid`).

    Args:
        in_channels (int): input features.
        out_channels (int): output features.
        directions (int): direction kernels :math:`K`. (default: :obj:`8`)
        aggr (str): ``"sum"`` or ``"mean"``. (default: :obj:`"sum"`)

    Shapes:
        - **input:** node features ``[N, in_channels]``, ``edge_index [2, E]``,
          ``basis`` from :func:`direction_basis` of the same edges
        - **output:** ``[N, out_channels]``
    """

    def __init__(self, in_channels: int, out_channels: int, directions: int = 8, aggr: str = "sum") -> None:
        super().__init__()
        if aggr not in ("sum", "mean"):
            raise GraphclsError(f"aggr must be 'sum' or 'mean', got {aggr!r}")
        if directions < 1:
            raise GraphclsError(f"directions must be >= 1, got {directions}")
        self.in_channels, self.out_channels, self.directions, self.aggr = in_channels, out_channels, directions, aggr
        # kernel k in rows [k*C_out, (k+1)*C_out); the self kernel W_0 comes after the K direction kernels
        self.lin = nn.Linear(in_channels, (directions + 1) * out_channels, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # direction kernels of the 8 neighbours on a grid (grid_weight), fixed by `directions`: computed once
        offsets = [(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dx, dy) != (0, 0)]
        lo, hi, frac = direction_basis(torch.tensor(offsets + [(0, 0)], dtype=torch.float32),
                                       torch.tensor([list(range(8)), [8] * 8]), directions)
        self.register_buffer("_tap_lo", lo, persistent=False)
        self.register_buffer("_tap_hi", hi, persistent=False)
        self.register_buffer("_tap_frac", frac, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # each output sums ~(1 + number of neighbours) terms: the fan-in of a 3x3 conv (He-uniform)
        bound = math.sqrt(6.0 / (self.in_channels * (self.directions + 1)))
        nn.init.uniform_(self.lin.weight, -bound, bound)
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, edge_index: Tensor, basis: Basis) -> Tensor:
        n, k1, c = x.size(0), self.directions + 1, self.out_channels
        y = self.lin(x).view(n * k1, c)
        src, dst = edge_index
        lo, hi, frac = basis[:3]
        base = src * k1
        msg = y.index_select(0, base + lo)
        if frac is not None:
            f = frac.to(msg.dtype).unsqueeze(1)
            msg = msg * (1 - f) + y.index_select(0, base + hi) * f
        out = torch.zeros(n, c, dtype=msg.dtype, device=x.device).index_add_(0, dst, msg)
        if self.aggr == "mean":
            deg = torch.zeros(n, dtype=msg.dtype, device=x.device).index_add_(
                0, dst, torch.ones_like(dst, dtype=msg.dtype))
            out = out / deg.clamp(min=1).unsqueeze(1)
        return out + y.view(n, k1, c)[:, self.directions] + self.bias

    def slot_operator(self, nbr: Tensor, basis: Basis, slot_mask: Optional[Tensor] = None) -> SlotOperator:
        r"""The aggregation of this layer over a fixed-degree neighbour table, as a
        :class:`~pyg_graphcls.nn.neighbours.SlotOperator` on the rows of ``lin(x).view(M * (K + 1), C)``:
        slot :math:`s` of node :math:`i` reads kernel rows :math:`k_{is}` and :math:`k_{is} + 1` of its
        source with weights :math:`1 - \phi_{is}`, :math:`\phi_{is}` (divided by the in-degree for
        ``aggr="mean"``), and one more slot reads its own self-kernel row with weight 1. It depends on the geometry only, so one serves every layer with the same
        ``directions`` and ``aggr``.

        Args:
            nbr (Tensor): ``[M, k]`` sources of the edges into each node.
            basis: :func:`neighbour_basis` of ``nbr``.
            slot_mask (Tensor, optional): ``[M, k]`` real slots (``None``: all).
        """
        n, k1, k = nbr.size(0), self.directions + 1, nbr.size(1)
        lo, hi, frac = basis[:3]
        base = nbr * k1
        ones = torch.ones(nbr.shape, device=nbr.device) if slot_mask is None else slot_mask.float()
        if frac is None:
            idx, w = base + lo, ones
        else:
            f = frac.float()
            idx, w = torch.cat([base + lo, base + hi], 1), torch.cat([(1 - f) * ones, f * ones], 1)
        if self.aggr == "mean":
            w = w / ones.sum(1, keepdim=True).clamp(min=1)
        own = torch.arange(n, device=nbr.device).unsqueeze(1) * k1 + self.directions  # + W_0 x_i, weight 1
        return SlotOperator(torch.cat([idx, own], 1), torch.cat([w, torch.ones_like(w[:, :1])], 1), n * k1)

    def forward_neighbours(self, x: Tensor, op: SlotOperator) -> Tensor:
        """The same layer on a fixed-degree neighbour table, equal to :meth:`forward` on its edges:
        ``x [M, C_in]`` and ``op`` from :meth:`slot_operator` → ``[M, C_out]``."""
        n, k1, c = x.size(0), self.directions + 1, self.out_channels
        return torch.add(op(self.lin(x).view(n * k1, c)), self.bias)

    def grid_weight(self) -> Tensor:
        """``[C_out, C_in, 3, 3]``: the ``conv2d`` kernel this layer is on an 8-neighbour grid (``aggr="sum"``).

        Tap ``[dy + 1, dx + 1]`` holds the (interpolated) direction matrix that
        :func:`direction_basis` gives a neighbour at offset ``(dx, dy)`` in
        ``pos`` units; the centre tap holds the self matrix :math:`W_0`.
        """
        k1, co, ci = self.directions + 1, self.out_channels, self.in_channels
        w = self.lin.weight.view(k1, co, ci)
        taps = w.index_select(0, self._tap_lo)  # the 8 neighbours, row-major (dy, dx) without the centre
        if self._tap_frac is not None:
            f = self._tap_frac.to(w.dtype).view(-1, 1, 1)
            taps = taps * (1 - f) + w.index_select(0, self._tap_hi) * f
        taps = torch.cat([taps[:4], w[self.directions:], taps[4:]])  # + the self matrix in the middle: 9 taps
        return taps.view(3, 3, co, ci).permute(2, 3, 0, 1)

    def forward_grid(self, x: Tensor, shape: tuple[int, int, int]) -> Tensor:
        """The same layer on ``B`` complete ``H x W`` grids, nodes in row-major order: one ``conv2d``.

        ``x [B*H*W, C_in]`` → ``[B*H*W, C_out]``; equal to :meth:`forward` on
        the grid graphs (sum aggregation; zero padding is the missing border
        neighbours). The node-major layout is channels-last, so no copy is made
        on the way in or out.
        """
        if self.aggr != "sum":
            raise GraphclsError(f"forward_grid is the sum-aggregation layer (this one: aggr={self.aggr!r})")
        b, h, w = shape
        x4 = x.view(b, h, w, self.in_channels).permute(0, 3, 1, 2)
        out = F.conv2d(x4, self.grid_weight(), self.bias, padding=1)
        return out.permute(0, 2, 3, 1).reshape(b * h * w, self.out_channels)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"directions={self.directions}, aggr={self.aggr})")


class DirectionalBlock(nn.Module):
    r"""A residual block around a :class:`DirectionalConv`.

    .. math::
        \mathbf{h}' = \mathbf{P}\mathbf{h} + \operatorname{Dropout}\big(\operatorname{ReLU}
        (\operatorname{BN}(\operatorname{conv}(\mathbf{h})))\big)

    with :math:`\mathbf{P}` a bias-free linear projection when the width
    changes, the identity otherwise (residual + BatchNorm, as the strong
    entries of Benchmarking-GNNs).

    Args:
        conv (DirectionalConv): the convolution.
        in_channels (int), out_channels (int): widths around it.
        dropout (float): dropout after the activation.

    Shapes: ``h [N, in_channels]`` → ``[N, out_channels]``; ``grid=(B, H, W)``
    runs the conv as :meth:`DirectionalConv.forward_grid`, ``op`` (from
    :meth:`DirectionalConv.slot_operator`) as :meth:`DirectionalConv.forward_neighbours`.
    """

    def __init__(self, conv: DirectionalConv, in_channels: int, out_channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv = conv
        self.bn = nn.BatchNorm1d(out_channels)
        self.proj = nn.Linear(in_channels, out_channels, bias=False) if in_channels != out_channels else None
        self.dropout = dropout

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()
        self.bn.reset_parameters()
        if self.proj is not None:
            self.proj.reset_parameters()

    def forward(self, h: Tensor, edge_index: Optional[Tensor], basis: Optional[Basis],
                grid: Optional[tuple[int, int, int]] = None, op: Optional[SlotOperator] = None) -> Tensor:
        if grid is not None:
            conv = self.conv.forward_grid(h, grid)
        elif op is not None:
            conv = self.conv.forward_neighbours(h, op)
        else:
            conv = self.conv(h, edge_index, basis)
        out = F.relu(self.bn(conv))
        out = F.dropout(out, self.dropout, self.training)
        return out + (self.proj(h) if self.proj is not None else h)


def full_grid_layout(pos: Tensor, edge_index: Tensor, batch: Tensor, size: int) -> Optional[tuple[int, int, Tensor]]:
    """``(H, W, order)`` when the batch is ``size`` complete 8-neighbour ``H x W`` pixel grids, else ``None``.

    A complete grid: every graph has the ``H*W`` integer positions
    ``(x, y) in [0, W) x [0, H)`` once each (any node order), and the edges are
    exactly the directed 8-neighbour pairs within each graph — no more, none
    missing, no duplicates. ``order [B*H*W]`` lists the nodes in row-major grid
    order (graph, y, x), so ``h[order]`` is the dense ``[B, H, W, C]`` layout.
    """
    n_all = pos.size(0)
    if size < 1 or n_all == 0 or n_all % size or batch.numel() != n_all:
        return None
    n = n_all // size
    pi = pos.round()
    if not torch.equal(pi, pos) or bool((pi < 0).any()):
        return None
    pi = pi.long()
    w, h = int(pi[:, 0].max()) + 1, int(pi[:, 1].max()) + 1
    if h * w != n or h < 2 or w < 2:
        return None
    cell = batch * n + pi[:, 1] * w + pi[:, 0]
    if torch.bincount(cell, minlength=n_all).ne(1).any():  # each cell of each graph exactly once
        return None
    if edge_index.size(1) != size * 2 * (h * (w - 1) + w * (h - 1) + 2 * (h - 1) * (w - 1)):
        return None
    src, dst = edge_index
    d = pi.index_select(0, src) - pi.index_select(0, dst)
    if not bool((batch.index_select(0, src) == batch.index_select(0, dst)).all()) or bool((d.abs() > 1).any()):
        return None
    code = (d[:, 1] + 1) * 3 + d[:, 0] + 1  # 0..8; 4 is a self-loop
    if bool((code == 4).any()) or torch.bincount(dst * 9 + code, minlength=n_all * 9).gt(1).any():
        return None
    order = torch.empty_like(cell)
    order[cell] = torch.arange(n_all, device=cell.device)
    return h, w, order
