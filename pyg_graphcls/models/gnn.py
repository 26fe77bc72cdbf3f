r"""The ``gnn`` family: PyG message-passing layers → global pooling → linear head.

``gcn`` (the classic MNISTSuperpixels GCN), ``gat``, ``gpr`` (GPR-GNN) and
``mlp`` (the same depth with no edges: the edge-blind baseline).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GATConv, GCNConv

from ..errors import GraphclsError
from ..nn import GPRProp, Readout
from ..nn.neighbours import gat_conv, gcn_operator
from .inputs import dense_graph, is_dense
from .registry import register_model

__all__ = ["GraphClassifier", "GPRClassifier"]

CONVS = ("gcn", "gat", "none")


class GraphClassifier(torch.nn.Module):
    r"""``num_layers`` graph convolutions → readout → linear classifier.

    .. math::
        \mathbf{H}^{(l)} = \operatorname{ReLU}\big(\operatorname{conv}_l(\mathbf{H}^{(l-1)})\big), \qquad
        \mathbf{y}_g = \mathbf{W} \operatorname{Dropout}\big(\operatorname{readout}\{\mathbf{h}^{(L)}_i :
        i \in g\}\big) + \mathbf{b}

    with :math:`\operatorname{conv}_l` a ``GCNConv``
    (:math:`\hat{\mathbf{D}}^{-1/2}\hat{\mathbf{A}}\hat{\mathbf{D}}^{-1/2}\mathbf{H}\mathbf{\Theta}`),
    a ``GATConv`` or a per-node linear layer.

    Args:
        in_channels (int): node feature size.
        num_classes (int): output classes.
        conv (str): ``gcn`` (:class:`~torch_geometric.nn.GCNConv`, i.e. ``gcn_norm``:
            self-loops and :math:`\hat D^{-1/2}\hat A\hat D^{-1/2}`), ``gat``
            (:class:`~torch_geometric.nn.GATConv`, ``heads`` heads concatenated,
            ``hidden`` channels in all) or ``none`` (per-node linear layers: the
            edge-blind baseline).
        hidden (int): channels per layer.
        num_layers (int): graph layers.
        readout (str): ``max``, ``mean``, ``sum`` or a ``+`` join (``max+mean``).
        dropout (float): dropout before the classifier.
        heads (int): attention heads (``gat``).
        edge_weight (bool): pass ``edge_attr[:, edge_weight_column]`` as edge
            weights to ``gcn`` (e.g. the Gaussian weight).
        edge_weight_column (int): column of ``edge_attr`` used as weight.

    Shapes:
        - **input:** a ``Batch`` (or ``Data``) with ``x [N, in_channels]``, ``edge_index [2, E]``
          (``edge_attr [E, D]`` with ``edge_weight=True``), or a
          :class:`~pyg_graphcls.train.fast.DenseGraphBatch` (:meth:`forward_dense`)
        - **output:** logits ``[num_graphs, num_classes]``
    """

    def __init__(self, in_channels: int, num_classes: int, conv: str = "gcn", hidden: int = 64,
                 num_layers: int = 4, readout: str = "max+mean", dropout: float = 0.0, heads: int = 4,
                 edge_weight: bool = False, edge_weight_column: int = 0) -> None:
        super().__init__()
        if conv not in CONVS:
            raise GraphclsError(f"conv must be one of {CONVS}, got {conv!r}")
        if in_channels < 1 or num_classes < 1 or hidden < 1 or num_layers < 0:
            raise GraphclsError(f"bad sizes: in_channels={in_channels}, num_classes={num_classes}, "
                                f"hidden={hidden}, num_layers={num_layers}")
        if conv == "gat" and hidden % heads:
            raise GraphclsError(f"gat: hidden ({hidden}) must be divisible by heads ({heads})")
        self.conv_type = conv
        self.use_edge_weight = edge_weight
        self.edge_weight_column = edge_weight_column
        self.dropout = dropout
        self.convs = torch.nn.ModuleList()
        c = in_channels
        for _ in range(num_layers):
            if conv == "gcn":
                self.convs.append(GCNConv(c, hidden))
            elif conv == "gat":
                self.convs.append(GATConv(c, hidden // heads, heads=heads))
            else:
                self.convs.append(torch.nn.Linear(c, hidden))
            c = hidden
        self.readout = Readout(readout)
        self.head = torch.nn.Linear(c * self.readout.multiplier, num_classes)

    def reset_parameters(self) -> None:
        for m in self.convs:
            m.reset_parameters()
        self.head.reset_parameters()

    def node_embeddings(self, x: Tensor, edge_index: Tensor, edge_weight: Optional[Tensor] = None) -> Tensor:
        for conv in self.convs:
            if self.conv_type == "gcn":
                x = conv(x, edge_index, edge_weight)
            elif self.conv_type == "gat":
                x = conv(x, edge_index)
            else:
                x = conv(x)
            x = F.relu(x)
        return x

    #: runs on a padded neighbour batch (:class:`~pyg_graphcls.train.fast.DenseGraphBatch`) too
    supports_dense = True

    def forward(self, data) -> Tensor:
        if is_dense(data):
            return self.forward_dense(data)
        x, edge_index = data.x.float(), data.edge_index
        batch = getattr(data, "batch", None)
        ew = None
        if self.use_edge_weight:
            ea = getattr(data, "edge_attr", None)
            if ea is None:
                raise GraphclsError("edge_weight=True needs graphs with edge_attr (graphcls: --edge-attr distance)")
            ew = ea.view(ea.size(0), -1)[:, self.edge_weight_column].float()
        h = self.node_embeddings(x, edge_index, ew)
        size = getattr(data, "num_graphs", None)
        g = self.readout(h, batch, size)
        g = F.dropout(g, p=self.dropout, training=self.training)
        return self.head(g)

    def forward_dense(self, data) -> Tensor:
        r"""The same model on a padded neighbour batch (:class:`~pyg_graphcls.train.fast.DenseGraphBatch`),
        with the same parameters: each ``GCNConv`` as :math:`\hat{\mathbf{A}}(\mathbf{H}\mathbf{W}^\top) +
        \mathbf{b}` with :math:`\hat{\mathbf{A}}` from :func:`~pyg_graphcls.nn.neighbours.gcn_operator`
        (``gcn_norm`` computed once per batch, shared by the layers), each ``GATConv`` by :func:`~pyg_graphcls.nn.neighbours.gat_conv`;
        the real nodes only (padding never reaches a linear layer; the readout pools the padded
        layout with the padding masked out)."""
        g = dense_graph(data)
        h = g.x
        op = None
        if self.conv_type == "gcn" and len(self.convs):
            ew = None
            if self.use_edge_weight:
                if g.edge_attr is None:
                    raise GraphclsError("edge_weight=True needs graphs with edge_attr (graphcls: --edge-attr distance)")
                ew = g.edge_attr[..., self.edge_weight_column]
            op = gcn_operator(g, ew)
        for conv in self.convs:
            if self.conv_type == "gcn":
                h = op(F.linear(h, conv.lin.weight))
                if conv.bias is not None:
                    h = h + conv.bias
            elif self.conv_type == "gat":
                h = gat_conv(conv, h, g)
            else:
                h = conv(h)
            h = F.relu(h)
        out = self.readout.dense(g.pad(h), g.node_mask)
        out = F.dropout(out, p=self.dropout, training=self.training)
        return self.head(out)


class GPRClassifier(torch.nn.Module):
    r"""GPR-GNN: a node MLP, then :class:`~pyg_graphcls.nn.GPRProp`, then readout + head.

    .. math::
        \mathbf{Z} = \sum_{k=0}^{K} \gamma_k \hat{\mathbf{A}}^k
        \big(\mathbf{W}_2 \operatorname{Dropout}(\operatorname{ReLU}(\mathbf{W}_1 \mathbf{X}))\big),
        \qquad \mathbf{y}_g = \mathbf{W} \operatorname{readout}\{\operatorname{ReLU}(\mathbf{z}_i) : i \in g\}

    Args:
        in_channels, num_classes: sizes.
        hidden (int): MLP width.
        K (int): propagation steps; alpha (float): PageRank initialisation.
        readout (str): pooling (see :class:`~pyg_graphcls.nn.Readout`).
        dropout (float): dropout inside the MLP.

    Shapes: a ``Batch`` with ``x [N, in_channels]``, ``edge_index [2, E]`` (or a
    :class:`~pyg_graphcls.train.fast.DenseGraphBatch`) → ``[num_graphs, num_classes]``.
    """

    def __init__(self, in_channels: int, num_classes: int, hidden: int = 64, K: int = 10,
                 alpha: float = 0.1, readout: str = "max+mean", dropout: float = 0.0) -> None:
        super().__init__()
        self.lin1 = torch.nn.Linear(in_channels, hidden)
        self.lin2 = torch.nn.Linear(hidden, hidden)
        self.prop = GPRProp(K, alpha)
        self.dropout = dropout
        self.readout = Readout(readout)
        self.head = torch.nn.Linear(hidden * self.readout.multiplier, num_classes)

    def reset_parameters(self) -> None:
        for m in (self.lin1, self.lin2, self.prop, self.head):
            m.reset_parameters()

    supports_dense = True

    def forward(self, data) -> Tensor:
        if is_dense(data):
            g = dense_graph(data)
            x, batch, size = g.x, g.batch, g.size
        else:
            x, batch, size = data.x.float(), getattr(data, "batch", None), getattr(data, "num_graphs", None)
        x = F.relu(self.lin1(x))
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.lin2(x)
        if is_dense(data):
            x = F.relu(self.prop.forward_neighbours(x, gcn_operator(g)))
            return self.head(self.readout.dense(g.pad(x), g.node_mask))
        x = F.relu(self.prop(x, data.edge_index))
        return self.head(self.readout(x, batch, size))


@register_model("gcn")
def gcn(in_channels: int, num_classes: int, hidden: int = 64, num_layers: int = 4,
        readout: str = "max+mean", dropout: float = 0.0, edge_weight: bool = False) -> GraphClassifier:
    """The classic MNISTSuperpixels GCN: 4 GCNConv x 64, ReLU, max ⊕ mean pooling, linear head."""
    return GraphClassifier(in_channels, num_classes, "gcn", hidden, num_layers, readout, dropout,
                           edge_weight=edge_weight)


@register_model("gat")
def gat(in_channels: int, num_classes: int, hidden: int = 64, num_layers: int = 4, heads: int = 4,
        readout: str = "max+mean", dropout: float = 0.0) -> GraphClassifier:
    """GATConv layers, ``heads`` heads of ``hidden // heads`` channels concatenated."""
    return GraphClassifier(in_channels, num_classes, "gat", hidden, num_layers, readout, dropout, heads=heads)


@register_model("gpr")
def gpr(in_channels: int, num_classes: int, hidden: int = 64, K: int = 10, alpha: float = 0.1,
        readout: str = "max+mean", dropout: float = 0.0) -> GPRClassifier:
    """GPR-GNN with learnable generalized-PageRank weights."""
    return GPRClassifier(in_channels, num_classes, hidden, K, alpha, readout, dropout)


@register_model("mlp")
def mlp(in_channels: int, num_classes: int, hidden: int = 64, num_layers: int = 4,
        readout: str = "max+mean", dropout: float = 0.0) -> GraphClassifier:
    """Edge-blind baseline: the same depth and readout as ``gcn`` with no message passing."""
    return GraphClassifier(in_channels, num_classes, "none", hidden, num_layers, readout, dropout)
