r"""Fixed-degree neighbour layout: graphs whose nodes receive at most :math:`k` edges, as gathers.

A kNN graph gives every node exactly :math:`k` incoming edges, so its edges fit
a table ``nbr [M, k]``: row :math:`i` lists the sources :math:`j` of the edges
:math:`j \to i`. Message passing over such a table is a gather
(``h[nbr] -> [M, k, C]``) followed by a reduction over the slot dimension, or
both at once as one product with a fixed sparse matrix whose transpose is built
once per batch (:class:`SlotOperator`): no atomic ``scatter``/``index_add`` in
either direction, no collation of ``edge_index``.
Nodes with fewer in-edges have padding slots (``slot_mask`` false) that point
at the node itself and carry weight 0.

This module holds the layout (:class:`NeighbourGraph`, built from padded
per-graph tensors by :func:`neighbour_graph`) and the propagations shared by
several models: :class:`SlotOperator` (a gather or weighted sum over the slots
whose backward pass reads a transposed table instead of scattering), PyG's
``gcn_norm`` on it (:func:`gcn_operator`) and ``GATConv`` on it (:func:`gat_conv`). Each equals
its PyG counterpart on the same graphs, duplicate edges counted as often as
they occur.
"""
from __future__ import annotations

import warnings
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["NeighbourGraph", "SlotOperator", "neighbour_graph", "gcn_operator", "gat_conv"]


class SlotOperator:
    r"""The fixed sparse matrix :math:`\mathbf{S}` of a weighted slot table, applied with its transpose
    precomputed.

    .. math::
        (\mathbf{S}\mathbf{Y})_m = \sum_{s} w_{ms} \, \mathbf{y}_{\mathrm{idx}[m, s]}

    Forward is a CSR matrix product, backward :math:`\mathbf{S}^\top \mathbf{G}` with the
    transpose built once (sorted by source row), so neither direction scatters with atomics.
    The weights are constants (geometry, normalisation): gradients flow to :math:`\mathbf{Y}` only.

    Args:
        idx (Tensor): ``[M, s]`` rows of :math:`\mathbf{Y}` read by each output row.
        weight (Tensor, optional): ``[M, s]`` (``None``: a plain gather, ``[M, s]`` rows out).
        num_rows (int): rows of :math:`\mathbf{Y}`.
    """

    def __init__(self, idx: Tensor, weight: Optional[Tensor], num_rows: int) -> None:
        m, s = idx.shape
        flat = idx.reshape(-1)
        dev = idx.device
        self.idx, self.shape, self.gather = flat, (m, s), weight is None
        out_rows = m * s if weight is None else m
        w = torch.ones(flat.numel(), device=dev) if weight is None else weight.reshape(-1).float()
        crow = torch.arange(0, m * s + 1, 1 if weight is None else s, device=dev)
        order = torch.argsort(flat, stable=True)
        counts = torch.bincount(flat, minlength=num_rows)
        tcrow = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        tcol = order if weight is None else order // s
        # the matrix and its transpose as (row pointers, columns, weights, shape): read by the compiled
        # product on CPU, made into torch CSR tensors otherwise (_product)
        self.csr = (crow, flat, w, (out_rows, num_rows))
        self.csr_t = (tcrow, tcol, w[order], (num_rows, out_rows))

    def __call__(self, y: Tensor) -> Tensor:
        """``y [num_rows, *C]`` → ``[M, *C]`` (weighted) or ``[M, s, *C]`` (gather)."""
        tail = y.shape[1:]
        out = _SlotProduct.apply(y.reshape(y.size(0), -1), self)
        return out.view(*self.shape, *tail) if self.gather else out.view(self.shape[0], *tail)


class _SlotProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y: Tensor, op: SlotOperator) -> Tensor:
        ctx.op = op
        if op.gather:
            return y.index_select(0, op.idx)
        return _product(op.csr, y)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return _product(ctx.op.csr_t, grad.contiguous()), None


def _product(csr: tuple, y: Tensor) -> Tensor:
    """The CSR matrix ``csr = (row pointers, columns, weights, shape)`` times ``y``: on CPU by the compiled
    rows product when it is built (in ``y``'s dtype, float32 sums, no conversion of ``y`` under mixed
    precision), else by torch's CSR product (float32, outside autocast: its kernels have no bfloat16)."""
    ptr, col, w, shape = csr
    if y.device.type == "cpu" and y.dtype in (torch.float32, torch.bfloat16, torch.float16):
        from ..graphs._compiled import load
        mod = load()
        if mod is not None:
            return mod.csr_rows_product(ptr, col, w, y)
    # int64 indices: torch's CPU CSR product with int32 indices takes a slower path (the transposed
    # product of a directional layer, [43200, 4800] with 82k entries: 8.5 ms vs 1.2 ms, one thread)
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the products used here are stable
        warnings.simplefilter("ignore", UserWarning)
        a = torch.sparse_csr_tensor(ptr, col, w, shape, check_invariants=False)
    with torch.autocast(y.device.type, enabled=False):
        if y.dtype in (torch.float16, torch.bfloat16):
            return (a @ y.float()).to(y.dtype)
        return (a if a.dtype == y.dtype else a.to(y.dtype)) @ y


class NeighbourGraph:
    r"""A batch of graphs in the fixed-degree layout; the real nodes of all graphs, graph after graph.

    Attributes:
        x (Tensor): node features ``[M, F]`` (float).
        batch (Tensor): graph of each node ``[M]``.
        size (int): number of graphs :math:`B`.
        nbr (Tensor): ``[M, k]`` source node of each incoming slot (padding: the node itself).
        slot_mask (Tensor, optional): ``[M, k]`` true for real edges; ``None`` when all slots are edges.
        pos (Tensor, optional): ``[M, 2]`` node positions.
        edge_attr (Tensor, optional): ``[M, k, D]`` features of edge ``nbr[i, s] -> i``.
        image_size (Tensor, optional): ``[B, 2]`` ``(H, W)`` of each graph's image.
        node_mask (Tensor, optional): ``[B, N]`` the real nodes of the padded layout (``None``: all
            :math:`B N` nodes are real); :meth:`pad` puts node features back in it.
    """

    def __init__(self, x: Tensor, batch: Tensor, size: int, nbr: Tensor, slot_mask: Optional[Tensor] = None,
                 pos: Optional[Tensor] = None, edge_attr: Optional[Tensor] = None,
                 image_size: Optional[Tensor] = None, node_mask: Optional[Tensor] = None,
                 max_nodes: Optional[int] = None) -> None:
        self.x, self.batch, self.size, self.nbr, self.slot_mask = x, batch, size, nbr, slot_mask
        self.pos, self.edge_attr, self.image_size = pos, edge_attr, image_size
        self.node_mask = node_mask
        self.max_nodes = max_nodes if max_nodes is not None else (x.size(0) // max(size, 1))
        self._node_index = None if node_mask is None else node_mask.reshape(-1).nonzero().squeeze(1)
        self._gather: Optional[SlotOperator] = None

    def pad(self, h: Tensor) -> Tensor:
        """Node features ``[M, C]`` in the padded layout ``[B, N, C]`` (zeros at padding; see ``node_mask``)."""
        if self._node_index is None:
            return h.view(self.size, self.max_nodes, *h.shape[1:])
        out = h.new_zeros(self.size * self.max_nodes, *h.shape[1:]).index_copy(0, self._node_index, h)
        return out.view(self.size, self.max_nodes, *h.shape[1:])

    def gather(self, h: Tensor) -> Tensor:
        """``h[nbr]``: ``[M, *C]`` → ``[M, k, *C]`` (a :class:`SlotOperator` built once per batch)."""
        if self._gather is None:
            self._gather = SlotOperator(self.nbr, None, self.nbr.size(0))
        return self._gather(h)


def neighbour_graph(x: Tensor, mask: Tensor, nbr: Tensor, nbr_mask: Optional[Tensor] = None,
                    pos: Optional[Tensor] = None, edge_attr: Optional[Tensor] = None,
                    image_size: Optional[Tensor] = None) -> NeighbourGraph:
    r"""The :class:`NeighbourGraph` of padded graphs.

    Args:
        x (Tensor): ``[B, N, F]`` node features; graph :math:`b` has its
            ``mask[b].sum()`` real nodes first.
        mask (Tensor): ``[B, N]`` bool, real nodes (a prefix of each row).
        nbr (Tensor): ``[B, N, k]`` local index of the source of each incoming slot.
        nbr_mask (Tensor, optional): ``[B, N, k]`` real slots (``None``: all).
        pos (Tensor, optional): ``[B, N, 2]``.
        edge_attr (Tensor, optional): ``[B, N, k, D]``.
        image_size (Tensor, optional): ``[B, 2]``.
    """
    B, N = mask.shape
    k = nbr.size(-1)
    counts = mask.sum(1)
    ptr = torch.cumsum(counts, 0) - counts
    real = mask.reshape(-1)
    flat = (nbr.long() + ptr.view(B, 1, 1)).reshape(B * N, k)[real]
    slot = None
    if nbr_mask is not None:
        slot = nbr_mask.reshape(B * N, k)[real]
        own = torch.arange(flat.size(0), device=flat.device).unsqueeze(1)
        flat = torch.where(slot, flat, own)  # padding slots point at the node itself
        if bool(slot.all()):
            slot = None
    batch = torch.repeat_interleave(torch.arange(B, device=x.device), counts)
    return NeighbourGraph(
        x.reshape(B * N, -1)[real].float(), batch, B, flat, slot,
        None if pos is None else pos.reshape(B * N, -1)[real].float(),
        None if edge_attr is None else edge_attr.reshape(B * N, k, -1)[real].float(),
        image_size, None if bool(mask.all()) else mask, N)


def gcn_operator(g: NeighbourGraph, edge_weight: Optional[Tensor] = None) -> SlotOperator:
    r"""PyG's ``gcn_norm`` (``add_remaining_self_loops``, fill value 1) in the neighbour layout, as the
    :class:`SlotOperator` :math:`\hat{\mathbf{A}}` (one per batch, shared by every layer).

    .. math::
        (\hat{\mathbf{A}}\mathbf{H})_i = \frac{w_{ii}}{\hat d_i} \mathbf{h}_i + \sum_{j \ne i}
        \hat d_j^{-1/2} \, w_{ji} \, \hat d_i^{-1/2} \mathbf{h}_j, \qquad
        \hat d_i = w_{ii} + \sum_{j \ne i} w_{ji}

    with :math:`w_{ii}` the weight of an existing self-loop of :math:`i` (summed if several), else 1.

    Args:
        g (NeighbourGraph): the graphs.
        edge_weight (Tensor, optional): ``[M, k]`` slot weights (default 1).
    """
    M = g.nbr.size(0)
    w = torch.ones(g.nbr.shape, dtype=g.x.dtype, device=g.x.device) if edge_weight is None else edge_weight
    own = torch.arange(M, device=g.nbr.device).unsqueeze(1)
    loop = g.nbr == own
    if g.slot_mask is not None:
        w = w * g.slot_mask
        loop = loop & g.slot_mask
    loop_w = torch.where(loop, w, torch.zeros_like(w))
    self_w = torch.where(loop.any(1), loop_w.sum(1), torch.ones_like(loop_w[:, 0]))
    w = w.masked_fill(loop, 0.0)
    deg = self_w + w.sum(1)
    dis = deg.pow(-0.5).masked_fill(deg == 0, 0.0)
    slot_norm = dis.index_select(0, g.nbr.reshape(-1)).view_as(w) * w * dis.unsqueeze(1)
    return SlotOperator(torch.cat([g.nbr, own], 1), torch.cat([slot_norm, (self_w * dis * dis).unsqueeze(1)], 1), M)


def gat_conv(conv, h: Tensor, g: NeighbourGraph) -> Tensor:
    r"""A PyG :class:`~torch_geometric.nn.GATConv` (one shared linear map, no edge features, no
    residual) applied in the neighbour layout with its own parameters.

    .. math::
        \alpha_{ij} = \operatorname{softmax}_{j \in \mathcal{N}(i) \cup \{i\}}
        \operatorname{LeakyReLU}(\mathbf{a}_s^\top \mathbf{W}\mathbf{h}_j + \mathbf{a}_d^\top \mathbf{W}\mathbf{h}_i),
        \qquad \mathbf{h}_i' = \big\Vert_{\text{heads}} \textstyle\sum_j \alpha_{ij} \mathbf{W}\mathbf{h}_j + \mathbf{b}

    Existing self-loops are replaced by one self-loop per node (``GATConv``'s
    ``add_self_loops``), so the self term is a separate slot.

    Shapes: ``h [M, C_in]`` → ``[M, heads * out_channels]`` (concatenated heads).
    """
    H, C = conv.heads, conv.out_channels
    M, k = g.nbr.shape
    xs = conv.lin(h).view(M, H, C)
    a_src = (xs * conv.att_src).sum(-1)
    a_dst = (xs * conv.att_dst).sum(-1)
    own = torch.arange(M, device=h.device).unsqueeze(1)
    drop = g.nbr == own  # self-loops (GATConv removes them, then adds one per node) and padding slots
    if g.slot_mask is not None:
        drop = drop | ~g.slot_mask
    logits = g.gather(a_src) + a_dst.unsqueeze(1)             # [M, k, H]
    logits = logits.masked_fill(drop.unsqueeze(-1), float("-inf"))
    logits = torch.cat([logits, (a_src + a_dst).unsqueeze(1)], 1)               # + the self slot
    alpha = torch.softmax(F.leaky_relu(logits, conv.negative_slope), dim=1)
    alpha = F.dropout(alpha, p=conv.dropout, training=conv.training)
    vals = torch.cat([g.gather(xs), xs.unsqueeze(1)], 1)        # [M, k + 1, H, C]
    out = (alpha.unsqueeze(-1) * vals).sum(1)
    out = out.reshape(M, H * C) if conv.concat else out.mean(1)
    return out + conv.bias if conv.bias is not None else out
