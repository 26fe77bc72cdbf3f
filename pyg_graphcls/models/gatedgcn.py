r"""The ``gatedgcn`` family: GatedGCN layers with relative-position edge features, multi-scale readout."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..nn.directional_conv import relative_positions
from ..nn.gated_gcn import GatedGCNLayer
from ..nn.readout import MultiScaleReadout
from .inputs import check_sizes, dense_graph, graph_inputs, image_sides, is_dense, node_positions
from .registry import register_model

__all__ = ["GatedGCN"]


class GatedGCN(nn.Module):
    r"""Node and edge embeddings → :class:`~pyg_graphcls.nn.GatedGCNLayer` layers →
    :class:`~pyg_graphcls.nn.MultiScaleReadout` (of the embedding and every layer).

    .. math::
        \mathbf{h}^{(0)}_i = \mathbf{W}_h \mathbf{x}_i + \mathbf{b}_h, \qquad
        \mathbf{e}^{(0)}_{ij} = \mathbf{W}_e \, (\Delta x, \Delta y, \lVert\Delta\rVert) / S_g + \mathbf{b}_e

    with :math:`\Delta = \mathbf{p}_j - \mathbf{p}_i` in pixels and :math:`S_g` the
    image side of the edge's graph (``data.image_size``, else the extent of
    ``pos``; :func:`~pyg_graphcls.models.inputs.image_sides`), so the edge
    features do not depend on the image resolution.

    Args:
        in_channels (int): node features.
        num_classes (int): outputs.
        hidden (int): width (64: ~91k parameters with 4 layers).
        num_layers (int): layers.
        dropout (float): inside the layers and before the head.

    Shapes:
        - **input:** a ``Batch`` with ``x [N, in_channels]``, ``pos [N, 2]``,
          ``edge_index [2, E]`` (optional ``image_size [num_graphs, 2]``)
        - **output:** ``[num_graphs, num_classes]``
    """

    def __init__(self, in_channels: int, num_classes: int, hidden: int = 64, num_layers: int = 4,
                 dropout: float = 0.0) -> None:
        super().__init__()
        check_sizes(in_channels, num_classes, hidden=hidden, num_layers=num_layers)
        self.embed_h = nn.Linear(in_channels, hidden)
        self.embed_e = nn.Linear(3, hidden)
        self.layers = nn.ModuleList(GatedGCNLayer(hidden, dropout, update_edges=i < num_layers - 1)
                                    for i in range(num_layers))
        self.readout = MultiScaleReadout([hidden] * (num_layers + 1), num_classes, dropout)

    def reset_parameters(self) -> None:
        for m in (self.embed_h, self.embed_e, *self.layers, self.readout):
            m.reset_parameters()

    #: runs on a padded neighbour batch (:class:`~pyg_graphcls.train.fast.DenseGraphBatch`) too
    supports_dense = True

    def forward(self, data) -> Tensor:
        if is_dense(data):
            return self.forward_dense(data)
        x, batch, size = graph_inputs(data)
        pos, ei = node_positions(data), data.edge_index
        scale = image_sides(data, batch, size, pos)[batch].index_select(0, ei[1])
        h = self.embed_h(x)
        e = self.embed_e(relative_positions(pos, ei, scale))
        stages = [(h, batch)]
        for layer in self.layers:
            h, e = layer(h, e, ei)
            stages.append((h, batch))
        return self.readout(stages, size)

    def forward_dense(self, data) -> Tensor:
        """:meth:`forward` on a padded neighbour batch: edge states ``[M, k, hidden]``, one per slot,
        each layer by :meth:`~pyg_graphcls.nn.GatedGCNLayer.forward_neighbours` (same parameters)."""
        g = dense_graph(data)
        pos = node_positions(g)
        scale = image_sides(g, g.batch, g.size, pos).index_select(0, g.batch).view(-1, 1, 1)
        d = (pos.index_select(0, g.nbr.reshape(-1)).view(*g.nbr.shape, 2) - pos.unsqueeze(1)) / scale
        h = self.embed_h(g.x)
        e = self.embed_e(torch.cat([d, d.norm(dim=-1, keepdim=True)], -1))
        stages = [g.pad(h)]
        for layer in self.layers:
            h, e = layer.forward_neighbours(h, e, g)
            stages.append(g.pad(h))
        return self.readout.forward_dense(stages, g.node_mask)


@register_model("gatedgcn")
def gatedgcn(in_channels: int, num_classes: int, hidden: int = 64, num_layers: int = 4,
             dropout: float = 0.0) -> GatedGCN:
    """GatedGCN with relative-position edge features, residual + BatchNorm, multi-scale readout (~91k)."""
    return GatedGCN(in_channels, num_classes, hidden, num_layers, dropout)
