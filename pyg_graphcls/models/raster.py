r"""The ``raster`` family: a graph painted onto a pixel lattice, then read by :class:`~pyg_graphcls.models.ConvNet`.

Graph blocks (residual :class:`~pyg_graphcls.nn.DirectionalConv`, mean
aggregation) mix each region with its neighbours; the resulting node features
(and/or raw feature groups of ``x``) are painted onto a lattice
(:mod:`pyg_graphcls.nn.rasterize`) and a CNN classifies the picture. These are
hybrids, not pure message-passing models.

=====================  ===============================================================================
``raster``             2 graph blocks x 32, painted by nearest node (a Voronoi picture from ``pos``),
                       one lattice cell per 2 pixels, CNN 48-48-64
``raster-regions``     the same blocks, each region painted with the shape its ``bbox`` and
                       ``occupancy`` columns give, one cell per pixel
``raster-mean``        no graph blocks: the ``mean`` columns painted by region shape, read by the
                       ``cnn`` layout 32-48-64-64 (the graph decoded into its mean picture)
``raster-mean-mp``     ``raster-mean``'s picture with the output of 2 graph blocks x 8 over the
                       ``mean`` columns painted beside it
=====================  ===============================================================================

The lattice and the pixel scale come from the data (``data.image_size``, else
the extent of ``pos``; :func:`~pyg_graphcls.models.inputs.image_sides`): the
lattice side is :math:`G = \lceil S / \text{cell} \rceil` for the largest image
side :math:`S` of the batch, and each graph is painted over its own image.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from ..errors import GraphclsError
from ..nn.directional_conv import DirectionalBlock, DirectionalConv, direction_basis
from ..nn.rasterize import rasterize_nearest, rasterize_regions, region_columns
from .cnn import ConvNet
from .inputs import Columns, check_sizes, column_range, graph_inputs, image_sides, node_positions
from .registry import register_model

__all__ = ["RasterNet"]

PAINTS = ("nearest", "regions")


class RasterNet(nn.Module):
    r"""Graph blocks, then node features painted on a lattice, then a small CNN.

    .. math::
        \mathbf{H} = \operatorname{blocks}(\operatorname{ReLU}(\operatorname{BN}(\mathbf{W}_e
        \mathbf{x}_{[\text{graph\_input}]}))), \qquad
        \mathbf{y} = \operatorname{ConvNet}\big(\operatorname{paint}([\mathbf{x}_{[\text{painted}]}
        \,\Vert\, \mathbf{H}])\big)

    Args:
        in_channels (int): node features.
        num_classes (int): outputs.
        graph_widths (Sequence[int]): widths of the graph blocks; empty: no
            message passing, only raw groups are painted.
        cnn_widths (Sequence[int]), pool_after (Sequence[int]): the
            :class:`~pyg_graphcls.models.ConvNet` that reads the lattice.
        cell (float): lattice cell side in pixels of the image.
        paint (str): ``"nearest"`` (:func:`~pyg_graphcls.nn.rasterize_nearest`) or
            ``"regions"`` (:func:`~pyg_graphcls.nn.rasterize_regions`, reads the
            ``"bbox"`` and ``"occupancy"`` groups).
        columns (dict, optional): feature group name → ``[start, stop)`` columns of ``x``.
        painted (Sequence[str]): groups of ``x`` painted as they are, before the
            blocks' output (all columns when there are no blocks and none is named).
        graph_input (Sequence[str], optional): groups the graph blocks read (all columns: ``None``).
        dropout (float): in the graph blocks and the CNN.

    Shapes:
        - **input:** a ``Batch`` with ``x [N, in_channels]``, ``pos [N, 2]``,
          ``edge_index [2, E]`` (optional ``image_size [num_graphs, 2]``)
        - **output:** ``[num_graphs, num_classes]``
    """

    def __init__(self, in_channels: int, num_classes: int, graph_widths: Sequence[int] = (32, 32),
                 cnn_widths: Sequence[int] = (48, 48, 64), pool_after: Sequence[int] = (0,), cell: float = 2.0,
                 paint: str = "nearest", columns: Optional[Columns] = None, painted: Sequence[str] = (),
                 graph_input: Optional[Sequence[str]] = None, dropout: float = 0.0) -> None:
        super().__init__()
        graph_widths = [int(w) for w in graph_widths]
        check_sizes(in_channels, num_classes, **{f"graph_width{i}": w for i, w in enumerate(graph_widths)})
        if not float(cell) > 0:
            raise GraphclsError(f"cell must be > 0 pixels, got {cell}")
        if paint not in PAINTS:
            raise GraphclsError(f"paint must be one of {PAINTS}, got {paint!r}")
        if isinstance(painted, str) or isinstance(graph_input, str):
            raise GraphclsError("painted and graph_input are lists of feature group names, e.g. ['mean']")
        painted = list(painted)
        graph_input = None if graph_input is None else list(graph_input)

        def cols(names: Sequence[str]) -> list[int]:
            out: list[int] = []
            for name in names:
                a, b = column_range(columns, name, in_channels)
                out.extend(range(a, b))
            return out

        self.paint, self.cell = paint, float(cell)
        self.paint_columns = cols(painted) if painted else None
        if not graph_widths and self.paint_columns is None:
            self.paint_columns = list(range(in_channels))
        if graph_input is not None and not graph_widths:
            raise GraphclsError("graph_input selects the graph blocks' input: it needs graph_widths")
        self.graph_columns = cols(graph_input) if graph_input is not None else None
        self.regions = ((column_range(columns, "bbox", in_channels), column_range(columns, "occupancy", in_channels))
                        if paint == "regions" else None)
        self.blocks = nn.ModuleList()
        c = 0
        if graph_widths:
            c_in = in_channels if self.graph_columns is None else len(self.graph_columns)
            self.embed = nn.Sequential(nn.Linear(c_in, graph_widths[0]), nn.BatchNorm1d(graph_widths[0]),
                                       nn.ReLU())
            c = graph_widths[0]
            for w in graph_widths:
                self.blocks.append(DirectionalBlock(DirectionalConv(c, w, 8, "mean"), c, w, dropout))
                c = w
        else:
            self.embed = nn.Sequential()
        c += len(self.paint_columns or ())
        self.cnn = ConvNet(c, num_classes, cnn_widths, pool_after, dropout)

    def reset_parameters(self) -> None:
        for m in self.embed:
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        for b in self.blocks:
            b.reset_parameters()
        self.cnn.reset_parameters()

    def forward(self, data) -> Tensor:
        x, batch, size = graph_inputs(data)
        pos, edge_index = node_positions(data), data.edge_index
        sides = image_sides(data, batch, size, pos)
        grid = max(1, math.ceil(float(sides.max()) / self.cell - 1e-6))
        parts = [] if self.paint_columns is None else [x[:, self.paint_columns]]
        if self.blocks:
            h = self.embed(x if self.graph_columns is None else x[:, self.graph_columns])
            basis = direction_basis(pos, edge_index, 8)
            for block in self.blocks:
                h = block(h, edge_index, basis)
            parts.append(h)
        h = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
        if self.regions is None:
            return self.cnn(rasterize_nearest(h, pos, batch, size, grid, sides))
        bbox, occ = region_columns(x, self.regions[0], self.regions[1], sides[batch])
        return self.cnn(rasterize_regions(h, pos, bbox, occ, batch, size, grid, sides))


@register_model("raster")
def raster(in_channels: int, num_classes: int, graph_widths: Sequence[int] = (32, 32),
           cnn_widths: Sequence[int] = (48, 48, 64), pool_after: Sequence[int] = (0,), cell: float = 2.0,
           dropout: float = 0.0) -> RasterNet:
    """2 direction-aware graph blocks x 32, painted by nearest node on one cell per 2 pixels (14x14 for
    28x28 images), CNN 48-48-64 (~97k on 14 columns)."""
    return RasterNet(in_channels, num_classes, graph_widths, cnn_widths, pool_after, cell, "nearest",
                     dropout=dropout)


@register_model("raster-regions")
def raster_regions(in_channels: int, num_classes: int, columns: Optional[Columns] = None,
                   graph_widths: Sequence[int] = (32, 32), cnn_widths: Sequence[int] = (48, 48, 64),
                   pool_after: Sequence[int] = (0, 1), cell: float = 1.0, dropout: float = 0.0) -> RasterNet:
    """``raster`` with each region painted by the shape its ``bbox`` + ``occupancy`` columns give, one
    lattice cell per pixel; ``columns`` must name both groups."""
    return RasterNet(in_channels, num_classes, graph_widths, cnn_widths, pool_after, cell, "regions", columns,
                     dropout=dropout)


@register_model("raster-mean")
def raster_mean(in_channels: int, num_classes: int, columns: Optional[Columns] = None,
                painted: Sequence[str] = ("mean",), cnn_widths: Sequence[int] = (32, 48, 64, 64),
                pool_after: Sequence[int] = (0, 1), cell: float = 1.0, dropout: float = 0.0) -> RasterNet:
    """No message passing: the ``painted`` groups (``mean``) painted by region shape, one cell per pixel,
    read by the ``cnn`` layout; ``columns`` must name ``bbox``, ``occupancy`` and the painted groups."""
    return RasterNet(in_channels, num_classes, (), cnn_widths, pool_after, cell, "regions", columns,
                     painted=painted, dropout=dropout)


@register_model("raster-mean-mp")
def raster_mean_mp(in_channels: int, num_classes: int, columns: Optional[Columns] = None,
                   graph_widths: Sequence[int] = (8, 8), graph_input: Sequence[str] = ("mean",),
                   painted: Sequence[str] = ("mean",), cnn_widths: Sequence[int] = (32, 48, 64, 64),
                   pool_after: Sequence[int] = (0, 1), dropout: float = 0.0) -> RasterNet:
    """``raster-mean``'s picture with the output of graph blocks over the ``graph_input`` groups painted
    beside it (one cell per pixel)."""
    return RasterNet(in_channels, num_classes, graph_widths, cnn_widths, pool_after, 1.0, "regions", columns,
                     painted=painted, graph_input=graph_input, dropout=dropout)
