r"""Graph attention restricted by a mask (e.g. a label co-occurrence graph).

For nodes :math:`i, j` (labels, groups, ...) with features :math:`x`, head
:math:`h` computes GAT scores

.. math::
    e^h_{ij} = \mathrm{LeakyReLU}\big(\mathbf{a}^{h\top}_{\text{dst}} W^h x_i
    + \mathbf{a}^{h\top}_{\text{src}} W^h x_j\big),

and :math:`\alpha^h_{ij} = \mathrm{softmax}_j(e^h_{ij})` **over the allowed**
:math:`j` only: entries with ``mask[i, j] == False`` are set to
:math:`-\infty` before the softmax, so their weight is exactly zero. The output
is

.. math::
    x'_i = \big\Vert_h \sum_j \alpha^h_{ij} W^h x_j \;(+\, W_{\text{res}} x_i)
    (+\, b)

(heads concatenated, or averaged with ``concat=False``). Convention:
``mask[i, j]`` means *node i attends to / receives from node j*.

Multiplying the scores by a 0/1 mask instead (``softmax(e * mask)``) does
**not** mask anything: a masked entry gets score 0 and hence weight
:math:`e^0 / Z > 0`. :func:`multiply_mask_attention` (and
``mask_mode="multiply"``) reproduce that mistake so that it can be shown.

:class:`MaskedGraphAttention` is the dense, batched form (:obj:`[B, C, F]`).
:class:`SparseMaskedGraphAttention` is PyG's
:class:`~torch_geometric.nn.conv.GATConv` (no added self-loops) over the
edges of the mask; both have the same parameters (``lin.weight``,
``att_src``, ``att_dst``, ``res.weight``, ``bias``), so one's
``state_dict`` loads into the other.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv
from torch_geometric.nn.inits import glorot, zeros

from ..errors import GraphclsError

__all__ = [
    "MaskedGraphAttention",
    "SparseMaskedGraphAttention",
    "masked_softmax",
    "multiply_mask_attention",
    "mask_to_edge_index",
]


def _as_bool_mask(mask: Tensor, name: str = "mask") -> Tensor:
    if not isinstance(mask, Tensor):
        raise GraphclsError(f"{name} must be a torch.Tensor of shape [C, C] or [B, C, C], "
                            f"got {type(mask).__name__}")
    return mask if mask.dtype == torch.bool else mask != 0


def masked_softmax(logits: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    r"""Softmax of ``logits`` over ``dim`` restricted to ``mask`` (broadcast).

    Masked entries get weight exactly 0 (their logit is :math:`-\infty`).
    A slice with no allowed entry gets all-zero weights (not NaN), and
    gradients stay finite.
    """
    mask = _as_bool_mask(mask)
    mask = mask.expand_as(logits) if mask.shape != logits.shape else mask
    has_any = mask.any(dim=dim, keepdim=True)
    e = logits.masked_fill(~mask, float("-inf")).masked_fill(~has_any, 0.0)
    return torch.softmax(e, dim=dim).masked_fill(~mask, 0.0)


def multiply_mask_attention(logits: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    r"""**Wrong on purpose**: ``softmax(logits * mask)``, as in the write-up.

    A masked entry's logit becomes 0, so it still gets weight
    :math:`e^0 / \sum_k e^{\tilde e_k} > 0`. Kept to demonstrate the leak;
    use :func:`masked_softmax` instead.
    """
    mask = _as_bool_mask(mask)
    return torch.softmax(logits * mask.to(logits.dtype), dim=dim)


def mask_to_edge_index(mask: Tensor, batch_size: Optional[int] = None) -> Tensor:
    r"""Edges of a boolean mask, ``mask[i, j] -> (j, i)`` (source :math:`j`, target :math:`i`).

    Args:
        mask (torch.Tensor): :obj:`[C, C]` or :obj:`[B, C, C]`.
        batch_size (int, optional): with a :obj:`[C, C]` mask, repeat it for
            ``batch_size`` disjoint copies (node :math:`i` of sample
            :math:`b` is :math:`bC + i`).

    Returns:
        :obj:`[2, E]` long tensor.
    """
    mask = _as_bool_mask(mask)
    if mask.dim() == 2:
        if mask.shape[0] != mask.shape[1]:
            raise GraphclsError(f"mask must be square [C, C], got {tuple(mask.shape)}")
        if batch_size is not None:
            mask = mask.unsqueeze(0).expand(batch_size, -1, -1)
    if mask.dim() == 3:
        if mask.shape[1] != mask.shape[2]:
            raise GraphclsError(f"mask must be [B, C, C], got {tuple(mask.shape)}")
        b_idx, i, j = mask.nonzero(as_tuple=True)
        c = mask.shape[1]
        return torch.stack([b_idx * c + j, b_idx * c + i])
    if mask.dim() != 2:
        raise GraphclsError(f"mask must be [C, C] or [B, C, C], got {tuple(mask.shape)}")
    i, j = mask.nonzero(as_tuple=True)
    return torch.stack([j, i])


def _check_batch(x: Tensor, mask: Tensor, in_channels: int) -> Tuple[Tensor, Tensor, bool]:
    """Return x as [B, C, F], mask as [B or 1, C, C] bool, and whether x was unbatched."""
    if not isinstance(x, Tensor) or x.dim() not in (2, 3):
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise GraphclsError(f"x must be [B, C, F] or [C, F], got {shape}")
    unbatched = x.dim() == 2
    if unbatched:
        x = x.unsqueeze(0)
    b, c, f = x.shape
    if f != in_channels:
        raise GraphclsError(f"x has {f} features per node, expected in_channels = {in_channels}")
    mask = _as_bool_mask(mask).to(x.device)
    if mask.dim() == 2:
        mask = mask.unsqueeze(0)
    if mask.dim() != 3 or mask.shape[1:] != (c, c) or mask.shape[0] not in (1, b):
        raise GraphclsError(f"mask must be [C, C] or [B, C, C] with C = {c}, B = {b}; "
                            f"got {tuple(mask.shape)}")
    return x, mask, unbatched


class MaskedGraphAttention(nn.Module):
    r"""Dense, batched GAT layer whose attention is restricted by a mask.

    Args:
        in_channels (int): features per node :math:`F`.
        out_channels (int): features per node and head.
        heads (int): attention heads. (default: :obj:`1`)
        residual (bool): add :math:`W_{\text{res}} x_i` (a bias-free linear
            map, as in ``GATConv(residual=True)``). (default: :obj:`True`)
        dropout (float): dropout on the attention weights (training only).
        concat (bool): concatenate heads (:obj:`heads * out_channels`
            outputs) or average them (:obj:`out_channels`).
        negative_slope (float): LeakyReLU slope. (default: :obj:`0.2`)
        bias (bool): add a learnable bias. (default: :obj:`True`)
        mask_mode (str): ``"inf"`` (correct: :math:`-\infty` before the
            softmax) or ``"multiply"`` (the write-up's bug, logits times the
            0/1 mask; leaks weight to masked entries). (default: ``"inf"``)

    Shapes:
        - **input:** ``x`` :obj:`[B, C, F]` (or :obj:`[C, F]`), ``mask``
          :obj:`[C, C]` or :obj:`[B, C, C]` bool (non-bool: non-zero = allowed)
        - **output:** :obj:`[B, C, heads * out_channels]` (or
          :obj:`[B, C, out_channels]` with ``concat=False``); with
          ``return_attention_weights=True`` also the weights
          :obj:`[B, heads, C, C]` (:math:`\alpha_{ij}` in ``[..., i, j]``).

    A node whose mask row is all :obj:`False` attends to nothing: its weights
    are all zero and its output is just the residual plus the bias (no NaN).
    """

    def __init__(self, in_channels: int, out_channels: int, heads: int = 1, residual: bool = True,
                 dropout: float = 0.0, concat: bool = True, negative_slope: float = 0.2,
                 bias: bool = True, mask_mode: str = "inf"):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels), ("heads", heads)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise GraphclsError(f"{name} must be a positive int, got {v!r}")
        if not 0.0 <= dropout < 1.0:
            raise GraphclsError(f"dropout must be in [0, 1), got {dropout!r}")
        if mask_mode not in ("inf", "multiply"):
            raise GraphclsError(f"mask_mode must be 'inf' or 'multiply', got {mask_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.concat = concat
        self.dropout = dropout
        self.negative_slope = negative_slope
        self.mask_mode = mask_mode
        total = heads * out_channels if concat else out_channels
        self.total_out_channels = total
        self.lin = nn.Linear(in_channels, heads * out_channels, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = nn.Parameter(torch.empty(1, heads, out_channels))
        self.res = nn.Linear(in_channels, total, bias=False) if residual else None
        self.bias = nn.Parameter(torch.empty(total)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        glorot(self.lin.weight)
        glorot(self.att_src)
        glorot(self.att_dst)
        if self.res is not None:
            glorot(self.res.weight)
        if self.bias is not None:
            zeros(self.bias)

    def attention_logits(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Projected features ``[B, C, H, D]`` and raw scores ``e`` ``[B, H, C, C]``."""
        b, c, _ = x.shape
        h = self.lin(x).view(b, c, self.heads, self.out_channels)
        a_src = (h * self.att_src).sum(-1).transpose(1, 2)  # [B, H, C]
        a_dst = (h * self.att_dst).sum(-1).transpose(1, 2)
        e = F.leaky_relu(a_dst.unsqueeze(-1) + a_src.unsqueeze(-2), self.negative_slope)
        return h, e

    def forward(self, x: Tensor, mask: Tensor, return_attention_weights: bool = False
                ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        x, mask, unbatched = _check_batch(x, mask, self.in_channels)
        h, e = self.attention_logits(x)
        m = mask.unsqueeze(1)  # [B|1, 1, C, C]
        if self.mask_mode == "inf":
            alpha = masked_softmax(e, m)
        else:
            alpha = multiply_mask_attention(e, m)
        alpha_drop = F.dropout(alpha, p=self.dropout, training=self.training)
        out = torch.einsum("bhij,bjhd->bihd", alpha_drop, h)
        out = out.reshape(out.shape[0], out.shape[1], -1) if self.concat else out.mean(dim=2)
        if self.res is not None:
            out = out + self.res(x)
        if self.bias is not None:
            out = out + self.bias
        if unbatched:
            out, alpha = out.squeeze(0), alpha.squeeze(0)
        return (out, alpha) if return_attention_weights else out

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, heads={self.heads}, concat={self.concat}, "
                f"residual={self.res is not None}, mask_mode={self.mask_mode!r}")


class SparseMaskedGraphAttention(GATConv):
    r"""The same layer as :class:`MaskedGraphAttention` in sparse form: PyG's
    :class:`~torch_geometric.nn.conv.GATConv` (``add_self_loops=False``) over
    the edges of the mask (``mask[i, j] -> edge (j, i)``).

    Parameters have the same names and shapes as the dense layer's, so
    ``sparse.load_state_dict(dense.state_dict())`` works and both compute
    the same output. Self-loops come only from the mask's diagonal.

    ``forward(x, mask_or_edge_index, return_attention_weights=False)``:

    * a **bool** second argument is a mask :obj:`[C, C]` or :obj:`[B, C, C]`
      and ``x`` is :obj:`[B, C, F]` or :obj:`[C, F]`; the output has the
      dense layer's shape, and the weights (when asked) are returned densely
      as :obj:`[B, heads, C, C]`;
    * an **integer** second argument is an ``edge_index`` :obj:`[2, E]` and
      ``x`` is :obj:`[N, F]`; it behaves exactly like ``GATConv`` (weights as
      ``(edge_index, alpha [E, heads])``).
    """

    def __init__(self, in_channels: int, out_channels: int, heads: int = 1, residual: bool = True,
                 dropout: float = 0.0, concat: bool = True, negative_slope: float = 0.2,
                 bias: bool = True):
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels), ("heads", heads)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise GraphclsError(f"{name} must be a positive int, got {v!r}")
        super().__init__(in_channels, out_channels, heads=heads, concat=concat,
                         negative_slope=negative_slope, dropout=dropout, add_self_loops=False,
                         bias=bias, residual=residual)

    def forward(self, x: Tensor, mask_or_edge_index: Tensor,  # type: ignore[override]
                return_attention_weights: bool = False):
        if not isinstance(mask_or_edge_index, Tensor):
            raise GraphclsError("second argument must be a bool mask [C, C]/[B, C, C] "
                                "or an integer edge_index [2, E]")
        if mask_or_edge_index.dtype != torch.bool:
            ei = mask_or_edge_index
            if ei.dim() != 2 or ei.shape[0] != 2 or ei.is_floating_point():
                raise GraphclsError(f"edge_index must be an integer [2, E] tensor, got "
                                    f"{tuple(ei.shape)} {ei.dtype}; pass masks as bool")
            if return_attention_weights:
                return super().forward(x, ei, return_attention_weights=True)
            return super().forward(x, ei)
        x, mask, unbatched = _check_batch(x, mask_or_edge_index, self.in_channels)
        b, c, f = x.shape
        edge_index = mask_to_edge_index(mask if mask.shape[0] == b else mask[0],
                                        batch_size=b if mask.shape[0] == 1 else None)
        res = super().forward(x.reshape(b * c, f), edge_index,
                              return_attention_weights=True if return_attention_weights else None)
        if return_attention_weights:
            out, (ei, alpha) = res
        else:
            out = res
        out = out.view(b, c, -1)
        if not return_attention_weights:
            return out.squeeze(0) if unbatched else out
        src, dst = ei
        dense = alpha.new_zeros(b, self.heads, c, c)
        dense[dst // c, :, dst % c, src % c] = alpha
        if unbatched:
            out, dense = out.squeeze(0), dense.squeeze(0)
        return out, dense
