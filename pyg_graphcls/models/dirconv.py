r"""The ``dirconv`` family: residual direction-aware convolutions, optional grid pooling, multi-scale readout.

========================  ====================================================================
``dirconv``               superpixel graphs: 4 :class:`~pyg_graphcls.nn.DirectionalConv`
                          blocks x 48, mean aggregation
``dirconv-grid``          8-neighbour pixel grids: the same layer with sum aggregation (a 3x3
                          convolution) and grid pooling by 2 and 4 pixels
========================  ====================================================================

Geometry is read from ``data.pos``, so the same model runs on any graph with
positions.
"""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import GraphclsError
from ..nn.directional_conv import (DirectionalBlock, DirectionalConv, direction_basis, full_grid_layout,
                                   neighbour_basis)
from ..nn.grid_pool import grid_pool
from ..nn.readout import MultiScaleReadout
from .inputs import check_sizes, dense_graph, graph_inputs, is_dense, node_positions
from .registry import register_model

__all__ = ["DirConvNet"]


class DirConvNet(nn.Module):
    r"""Embedding → residual :class:`~pyg_graphcls.nn.DirectionalConv` blocks (optional grid pooling) →
    :class:`~pyg_graphcls.nn.MultiScaleReadout`.

    .. math::
        \mathbf{h}^{(0)} = \operatorname{ReLU}(\operatorname{BN}(\mathbf{W}_e \mathbf{x})), \qquad
        \mathbf{h}^{(l)} = \operatorname{block}_l(\mathbf{h}^{(l-1)})
        \;[\to \operatorname{grid\_pool}]

    and logits from the max ⊕ mean pooling of every block's output.

    Args:
        in_channels (int): node features.
        num_classes (int): outputs.
        widths (Sequence[int]): channels of each block (the embedding has ``widths[0]``).
        pool_after (Sequence[int]): block indices after which :func:`~pyg_graphcls.nn.grid_pool`
            coarsens the graph.
        pool_sizes (Sequence[float]): the cell size in pixels of each pooling
            (``(2, 4)``: an ``H x W`` grid → ``H/2 x W/2`` → ``H/4 x W/4``).
        directions (int): direction kernels :math:`K` (8: an exact 3x3 convolution on a grid).
        aggr (str): ``"sum"`` (grids: convolution semantics) or ``"mean"`` (kNN graphs).
        dropout (float): after every block and before the head.
        dense_grid (bool): when a batch is complete 8-neighbour pixel grids
            (:func:`~pyg_graphcls.nn.full_grid_layout`) and the model can run as a
            CNN (sum aggregation, poolings of 2, 4, 8, ... pixels, sides divisible
            by them), compute the same function with ``conv2d`` / ``max_pool2d`` on
            the dense layout; any other batch takes the message-passing path.

    Shapes:
        - **input:** a ``Batch`` with ``x [N, in_channels]``, ``pos [N, 2]``,
          ``edge_index [2, E]``, or a :class:`~pyg_graphcls.train.fast.DenseGraphBatch`
          with ``pos`` (:meth:`forward_dense`; models without grid pooling)
        - **output:** ``[num_graphs, num_classes]``
    """

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int] = (48, 48, 48, 48),
                 pool_after: Sequence[int] = (), pool_sizes: Sequence[float] = (), directions: int = 8,
                 aggr: str = "mean", dropout: float = 0.0, dense_grid: bool = True) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        check_sizes(in_channels, num_classes, directions=directions, blocks=len(widths) or 0,
                    **{f"width{i}": w for i, w in enumerate(widths)})
        pool_after, pool_sizes = [int(p) for p in pool_after], [float(s) for s in pool_sizes]
        if len(pool_after) != len(pool_sizes):
            raise GraphclsError(f"pool_after {pool_after} and pool_sizes {pool_sizes} must have the same length")
        if any(not 0 <= p < len(widths) for p in pool_after):
            raise GraphclsError(f"pool_after {pool_after} must index blocks 0..{len(widths) - 1}")
        self.pool_at = dict(zip(pool_after, pool_sizes))
        self.directions = directions
        self.embed = nn.Sequential(nn.Linear(in_channels, widths[0]), nn.BatchNorm1d(widths[0]), nn.ReLU())
        self.blocks = nn.ModuleList()
        c = widths[0]
        for w in widths:
            self.blocks.append(DirectionalBlock(DirectionalConv(c, w, directions, aggr), c, w, dropout))
            c = w
        self.readout = MultiScaleReadout(widths, num_classes, dropout)
        ordered = [self.pool_at[i] for i in sorted(self.pool_at)]
        self.dense_grid = (bool(dense_grid) and aggr == "sum"
                           and ordered == [2.0 ** (j + 1) for j in range(len(ordered))])

    def reset_parameters(self) -> None:
        for m in self.embed:
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        for b in self.blocks:
            b.reset_parameters()
        self.readout.reset_parameters()

    @property
    def supports_dense(self) -> bool:
        """Whether :meth:`forward` takes a padded neighbour batch (no grid pooling)."""
        return not self.pool_at

    def forward(self, data) -> Tensor:
        if is_dense(data):
            return self.forward_dense(data)
        x, batch, size = graph_inputs(data)
        pos, edge_index = node_positions(data), data.edge_index
        if self.dense_grid:
            layout = full_grid_layout(pos, edge_index, batch, size)
            step = 2 ** len(self.pool_at)
            if layout is not None and layout[0] % step == 0 and layout[1] % step == 0:
                return self._forward_grid(x.index_select(0, layout[2]), size, layout[0], layout[1])
        h = self.embed(x)
        basis = direction_basis(pos, edge_index, self.directions)
        stages = []
        for i, block in enumerate(self.blocks):
            h = block(h, edge_index, basis)
            stages.append((h, batch))
            if i in self.pool_at:
                h, pos, edge_index, batch, _ = grid_pool(h, pos, edge_index, batch, self.pool_at[i], size)
                basis = direction_basis(pos, edge_index, self.directions)
        return self.readout(stages, size)

    def forward_dense(self, data) -> Tensor:
        """:meth:`forward` on a padded neighbour batch (:class:`~pyg_graphcls.train.fast.DenseGraphBatch`):
        the same parameters and function, each block by
        :meth:`~pyg_graphcls.nn.DirectionalConv.forward_neighbours` (the aggregation over the ``[M, k]``
        table as one fixed sparse operator, built once per batch); BatchNorm and readout see the real nodes only."""
        if not self.supports_dense:
            raise GraphclsError("dirconv with grid pooling has no padded neighbour path; give it a PyG Batch")
        g = dense_graph(data)
        if g.pos is None:
            node_positions(g)  # the error of the sparse path
        op = self.blocks[0].conv.slot_operator(g.nbr, neighbour_basis(g.pos, g.nbr, self.directions), g.slot_mask)
        h = self.embed(g.x)
        stages = []
        for block in self.blocks:  # every block has the same directions and aggregation: one operator
            h = block(h, None, None, op=op)
            stages.append(g.pad(h))
        return self.readout.forward_dense(stages, g.node_mask)

    def _forward_grid(self, x: Tensor, b: int, h_: int, w_: int) -> Tensor:
        """:meth:`forward` on ``b`` complete grids whose nodes ``x`` are in row-major order (see ``dense_grid``)."""
        h = self.embed(x)
        stages = []
        for i, block in enumerate(self.blocks):
            h = block(h, None, None, grid=(b, h_, w_))
            c = h.size(1)
            stages.append(h.view(b, h_ * w_, c))
            if i in self.pool_at:  # grid_pool with cells of 2, 4, ... pixels is 2x2 max pooling here
                h4 = F.max_pool2d(h.view(b, h_, w_, c).permute(0, 3, 1, 2), 2)
                h_, w_ = h_ // 2, w_ // 2
                h = h4.permute(0, 2, 3, 1).reshape(b * h_ * w_, c)
        return self.readout.forward_dense(stages)


@register_model("dirconv")
def dirconv(in_channels: int, num_classes: int, hidden: int = 48, num_layers: int = 4, directions: int = 8,
            aggr: str = "mean", dropout: float = 0.0, pool_after: Sequence[int] = (),
            pool_sizes: Sequence[float] = ()) -> DirConvNet:
    """Superpixel graphs: ``num_layers`` residual direction-aware blocks x ``hidden``, mean aggregation,
    multi-scale readout (~88k parameters with the defaults on 9 input columns).

    Mean aggregation: a kNN graph gives every node the same in-degree, and the
    mean keeps the scale fixed when augmentation drops nodes.
    """
    return DirConvNet(in_channels, num_classes, [hidden] * num_layers, pool_after=pool_after,
                      pool_sizes=pool_sizes, directions=directions, aggr=aggr, dropout=dropout)


@register_model("dirconv-grid")
def dirconv_grid(in_channels: int, num_classes: int, widths: Sequence[int] = (32, 48, 64, 64),
                 pool_after: Sequence[int] = (0, 1), pool_sizes: Sequence[float] = (2.0, 4.0),
                 directions: int = 8, dropout: float = 0.0, dense_grid: bool = True) -> DirConvNet:
    """8-neighbour pixel grids: 3x3-convolution-equivalent blocks 32, 48 (after 2x2 pooling), 64, 64
    (after another), ~97k parameters.

    Sum aggregation, so each block is a 3x3 convolution: the layout of the
    ``cnn`` model, so the two differ only in the graph machinery. Batches of
    complete grids run as ``conv2d`` (``dense_grid``, the same function).
    """
    return DirConvNet(in_channels, num_classes, widths, pool_after=pool_after, pool_sizes=pool_sizes,
                      directions=directions, aggr="sum", dropout=dropout, dense_grid=dense_grid)
