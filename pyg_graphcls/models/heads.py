r"""Classification heads on top of any image backbone.

Every head is an :class:`torch.nn.Module` built as
``Head(backbone, feat_dim, num_classes, ...)``. ``backbone(images)`` must give
:obj:`[B, feat_dim]` features or a :obj:`[B, feat_dim, H, W]` map (globally
max-pooled by the head). ``forward(images)`` returns logits
:obj:`[B, num_classes]`, except :class:`SampleGraphHead`, which returns
``(logits [B, num_classes], edge_logits [B, B])`` and has
``returns_edge_logits = True``.

========================================  =========================================
:class:`LinearHead`                       no graph (the baseline)
:class:`LabelAttentionHead`               class scores as C one-feature nodes,
                                          masked graph attention, residual
:class:`MLGCN`                            GCN over label nodes gives one classifier
                                          per label (ML-GCN)
:class:`GroupedLabelAttentionHead`        groups -> attention across groups ->
                                          classes -> attention inside each group
:class:`SampleGraphHead`                  GCN over the samples of the minibatch
                                          plus edge logits for the edge loss
========================================  =========================================

Label graphs (``label_graph=`` argument) may be given as a
:class:`~torch_geometric.data.Data` from
:func:`~pyg_graphcls.graphs.labels.cooccurrence_graph`, a path (``str``) to a
file written by :func:`~pyg_graphcls.graphs.labels.save_label_graph`, or a
:obj:`[C, C]` matrix (tensor, array or nested list). Paths and nested lists
keep :func:`~pyg_graphcls.models.registry.create_model` configs JSON-friendly.
:obj:`None` means no label structure (fully connected mask / identity graph).
"""
from __future__ import annotations

import math
import os
from typing import Any, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv
from torch_geometric.nn.inits import glorot, zeros

from ..errors import GraphclsError
from ..graphs.labels import label_mask, load_label_graph
from ..nn.masked_attention import MaskedGraphAttention
from .cnn import ConvNet, pool_features
from .registry import register_model

__all__ = [
    "LinearHead",
    "LabelAttentionHead",
    "MLGCN",
    "GroupedLabelAttentionHead",
    "SampleGraphHead",
    "balanced_groups",
    "COCO_CLASSES_PER_GROUP",
]

#: classes per group of the grouped-attention write-up (12 groups, 80 classes)
COCO_CLASSES_PER_GROUP = [1, 8, 5, 10, 5, 10, 7, 10, 6, 6, 5, 7]


def _check_common(backbone: Any, feat_dim: Any, num_classes: Any) -> None:
    if not isinstance(backbone, nn.Module):
        raise GraphclsError(f"backbone must be a torch.nn.Module, got {type(backbone).__name__}")
    for name, v in (("feat_dim", feat_dim), ("num_classes", num_classes)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise GraphclsError(f"{name} must be a positive int, got {v!r}")


def _resolve_label_graph(label_graph: Any, num_classes: int) -> Any:
    """None, a Data with num_nodes == C, or a float [C, C] tensor."""
    if label_graph is None:
        return None
    if isinstance(label_graph, (str, os.PathLike)):
        label_graph = load_label_graph(label_graph)
    if isinstance(label_graph, Data):
        if label_graph.num_nodes != num_classes:
            raise GraphclsError(f"label_graph has {label_graph.num_nodes} nodes, "
                                f"expected num_classes = {num_classes}")
        return label_graph
    if isinstance(label_graph, Tensor):
        mat = label_graph.detach().cpu().float()
    else:
        try:
            mat = torch.as_tensor(np.asarray(label_graph, dtype=np.float32))
        except (TypeError, ValueError) as e:
            raise GraphclsError(f"label_graph cannot be read as a [C, C] matrix: {e}") from None
    if tuple(mat.shape) != (num_classes, num_classes):
        raise GraphclsError(f"label_graph matrix must have shape [C, C] = "
                            f"[{num_classes}, {num_classes}], got {tuple(mat.shape)}")
    if not torch.isfinite(mat).all():
        raise GraphclsError("label_graph matrix contains NaN or Inf")
    return mat


def balanced_groups(num_classes: int, num_groups: Optional[int] = None) -> List[int]:
    r"""Split ``num_classes`` consecutive classes into ``num_groups`` (default
    :math:`\mathrm{round}(\sqrt{C})`) groups whose sizes differ by at most one."""
    g = num_groups or max(1, round(math.sqrt(num_classes)))
    g = min(g, num_classes)
    base, extra = divmod(num_classes, g)
    return [base + (1 if i < extra else 0) for i in range(g)]


class _GroupedLinear(nn.Module):
    r"""One linear map per node: ``x [B, N, in] -> [B, N, out]`` with weight
    :obj:`[N, in, out]` (a separate FC for every group / class)."""

    def __init__(self, num_nodes: int, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_nodes, in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(num_nodes, out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.weight.shape[1])
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.einsum("bni,nio->bno", x, self.weight)
        return out + self.bias if self.bias is not None else out


class _NodeFC(nn.Module):
    """Ablation stand-in for an attention layer: the same per-node map
    ``in -> out`` with no mixing between nodes; the mask is ignored."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.lin = nn.Linear(in_channels, out_channels)

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        return self.lin(x)


# ------------------------------------------------------------------ heads

class LinearHead(nn.Module):
    r"""Backbone features, dropout, one linear layer: the no-graph baseline.

    Args:
        backbone (nn.Module): images -> :obj:`[B, feat_dim]` (or a map).
        feat_dim (int): backbone features.
        num_classes (int): outputs.
        dropout (float): dropout before the linear layer. (default: :obj:`0.0`)
    """

    def __init__(self, backbone: nn.Module, feat_dim: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        _check_common(backbone, feat_dim, num_classes)
        self.backbone, self.feat_dim, self.num_classes = backbone, feat_dim, num_classes
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(feat_dim, num_classes)

    def reset_parameters(self) -> None:
        self.fc.reset_parameters()

    def forward(self, images: Tensor) -> Tensor:
        f = pool_features(self.backbone(images), self.feat_dim)
        return self.fc(self.dropout(f))


class LabelAttentionHead(nn.Module):
    r"""Class scores refined by masked graph attention among the labels.

    A linear layer gives scores :math:`s \in \mathbb{R}^{B \times C}`; each
    class is a node with the single feature :math:`s_c` (plus, optionally, a
    learned ``embed_dim``-dimensional class embedding so nodes can tell
    which class they are). A :class:`MaskedGraphAttention` layer over these
    nodes, restricted by the label-graph mask, followed by ELU and a linear
    map to one number per node, is added to the scores:

    .. math::
        \text{logits} = s + \mathrm{Lin}\big(\mathrm{ELU}(\mathrm{GAT}_M(s))\big).

    The last linear map starts at zero, so training starts from the
    :class:`LinearHead` baseline.

    Args:
        backbone, feat_dim, num_classes: as :class:`LinearHead`.
        label_graph: see the module doc. A :class:`Data` gives its ``adj``
            (or ``cond_prob >= mask_threshold``); a matrix gives its
            non-zeros; :obj:`None` gives a fully connected mask. Self-loops
            are always added.
        mask_threshold (float, optional): re-threshold ``cond_prob`` of a
            :class:`Data` label graph (the write-up uses ``0.1``).
        hidden (int): attention output channels per head. (default: :obj:`16`)
        heads (int): attention heads (averaged). (default: :obj:`1`)
        embed_dim (int): size of the learned class embedding concatenated to
            each node's score; :obj:`0` gives the write-up's one-feature
            nodes. (default: :obj:`0`)
        dropout (float): dropout on features and attention weights.
        mask_mode (str): ``"inf"`` (correct) or ``"multiply"`` (the
            write-up's leaking mask, for comparison).
    """

    def __init__(self, backbone: nn.Module, feat_dim: int, num_classes: int, label_graph: Any = None,
                 mask_threshold: Optional[float] = None, hidden: int = 16, heads: int = 1,
                 embed_dim: int = 0, dropout: float = 0.0, mask_mode: str = "inf"):
        super().__init__()
        _check_common(backbone, feat_dim, num_classes)
        self.backbone, self.feat_dim, self.num_classes = backbone, feat_dim, num_classes
        graph = _resolve_label_graph(label_graph, num_classes)
        if graph is None:
            if mask_threshold is not None:
                raise GraphclsError("mask_threshold needs a label_graph with cond_prob")
            mask = torch.ones(num_classes, num_classes, dtype=torch.bool)
        elif isinstance(graph, Data):
            mask = label_mask(graph, self_loops=True, threshold=mask_threshold)
        else:
            if mask_threshold is not None:
                raise GraphclsError("mask_threshold needs a label_graph Data/path with cond_prob, "
                                    "not a matrix")
            mask = label_mask(graph, self_loops=True)
        self.register_buffer("mask", mask)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(feat_dim, num_classes)
        self.embed = nn.Parameter(torch.empty(num_classes, embed_dim)) if embed_dim > 0 else None
        self.attention = MaskedGraphAttention(1 + max(embed_dim, 0), hidden, heads=heads, concat=False,
                                              residual=True, dropout=dropout, mask_mode=mask_mode)
        self.out = nn.Linear(hidden, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.fc.reset_parameters()
        if self.embed is not None:
            nn.init.normal_(self.embed, std=0.1)
        self.attention.reset_parameters()
        zeros(self.out.weight)
        zeros(self.out.bias)

    def forward(self, images: Tensor) -> Tensor:
        f = pool_features(self.backbone(images), self.feat_dim)
        scores = self.fc(self.dropout(f))  # [B, C]
        nodes = scores.unsqueeze(-1)
        if self.embed is not None:
            nodes = torch.cat([nodes, self.embed.unsqueeze(0).expand(scores.shape[0], -1, -1)], dim=-1)
        h = F.elu(self.attention(nodes, self.mask))
        return scores + self.out(self.dropout(h)).squeeze(-1)


class MLGCN(nn.Module):
    r"""ML-GCN: a GCN over label nodes turns label embeddings into classifiers.

    .. math::
        W = \hat{A}\, \mathrm{LeakyReLU}(\hat{A} E W_1) W_2 \in
        \mathbb{R}^{C \times d}, \qquad \text{logits} = f\, W^\top (+ b)

    with :math:`E` the :obj:`[C, embed]` label embeddings, :math:`\hat{A}`
    the re-weighted, normalised adjacency of
    :func:`~pyg_graphcls.graphs.labels.cooccurrence_graph` (``edge_index``/
    ``edge_weight``, propagated with ``GCNConv(normalize=False)``) and
    :math:`f` the :obj:`[B, d]` image features (:math:`d` = ``feat_dim``).

    Args:
        backbone, feat_dim, num_classes: as :class:`LinearHead`.
        label_graph: see the module doc. A :class:`Data` gives its
            ``adj_norm`` edges; a matrix is used as :math:`\hat{A}` as is;
            :obj:`None` uses the identity (no label dependencies).
        embeddings (array/nested list :obj:`[C, embed]`, optional): fixed
            label embeddings (e.g. GloVe word vectors, as in ML-GCN). When
            :obj:`None`, learnable embeddings of size ``embed_dim`` are used.
        embed_dim (int): size of learnable embeddings. (default: :obj:`64`)
        hidden (int): GCN hidden channels. (default: :obj:`256`)
        learn_embeddings (bool, optional): train supplied embeddings too.
        negative_slope (float): LeakyReLU slope between the two GCN layers.
        bias (bool): per-class bias on the logits (ML-GCN has none).
            (default: :obj:`True`)
    """

    def __init__(self, backbone: nn.Module, feat_dim: int, num_classes: int, label_graph: Any = None,
                 embeddings: Any = None, embed_dim: int = 64, hidden: int = 256,
                 learn_embeddings: Optional[bool] = None, negative_slope: float = 0.2, bias: bool = True):
        super().__init__()
        _check_common(backbone, feat_dim, num_classes)
        self.backbone, self.feat_dim, self.num_classes = backbone, feat_dim, num_classes
        self.negative_slope = negative_slope
        graph = _resolve_label_graph(label_graph, num_classes)
        if graph is None:
            idx = torch.arange(num_classes)
            edge_index, edge_weight = torch.stack([idx, idx]), torch.ones(num_classes)
        elif isinstance(graph, Data):
            edge_index, edge_weight = graph.edge_index.long(), graph.edge_weight.float()
        else:
            rows, cols = graph.nonzero(as_tuple=True)
            edge_index, edge_weight = torch.stack([cols, rows]), graph[rows, cols]
        self.register_buffer("edge_index", edge_index.clone())
        self.register_buffer("edge_weight", edge_weight.clone())

        self._fixed_embeddings = embeddings is not None
        if embeddings is not None:
            emb = torch.as_tensor(np.asarray(embeddings.detach().cpu() if isinstance(embeddings, Tensor)
                                             else embeddings, dtype=np.float32))
            if emb.dim() != 2 or emb.shape[0] != num_classes:
                raise GraphclsError(f"embeddings must have shape [C, embed] with C = {num_classes}, "
                                    f"got {tuple(emb.shape)}")
            embed_dim = emb.shape[1]
            if learn_embeddings:
                self.embeddings = nn.Parameter(emb.clone())
            else:
                self.register_buffer("embeddings", emb.clone())
        else:
            if learn_embeddings is False:
                raise GraphclsError("learn_embeddings=False needs embeddings")
            self.embeddings = nn.Parameter(torch.empty(num_classes, embed_dim))
        self.gc1 = GCNConv(embed_dim, hidden, normalize=False, add_self_loops=False, bias=False)
        self.gc2 = GCNConv(hidden, feat_dim, normalize=False, add_self_loops=False, bias=False)
        self.bias = nn.Parameter(torch.empty(num_classes)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if not self._fixed_embeddings:
            nn.init.normal_(self.embeddings, std=1.0)
        self.gc1.reset_parameters()
        self.gc2.reset_parameters()
        if self.bias is not None:
            zeros(self.bias)

    def classifiers(self) -> Tensor:
        """The :obj:`[C, feat_dim]` per-label classifiers the GCN produces."""
        h = self.gc1(self.embeddings, self.edge_index, self.edge_weight)
        h = F.leaky_relu(h, self.negative_slope)
        return self.gc2(h, self.edge_index, self.edge_weight)

    def forward(self, images: Tensor) -> Tensor:
        f = pool_features(self.backbone(images), self.feat_dim)
        logits = f @ self.classifiers().t()
        return logits + self.bias if self.bias is not None else logits


class GroupedLabelAttentionHead(nn.Module):
    r"""Hierarchical graph attention over label groups, then over classes.

    1. features (global max pool of a map) :math:`\to` FC :math:`\to` ReLU
       :math:`\to` FC to ``G * group_dim`` group channels;
    2. one FC per group on its ``group_dim`` chunk :math:`\to` :obj:`[B, G, group_dim]`;
    3. graph attention across the :math:`G` groups (fully connected);
    4. one FC per class from its group's feature :math:`\to` :obj:`[B, C, class_dim]`;
    5. graph attention among the classes of each group (block-diagonal mask,
       optionally intersected with a label graph; one layer shared by all
       groups);
    6. one FC per class to its logit.

    Classes are assigned to groups in index order: group 0 holds classes
    ``0 .. classes_per_group[0] - 1``, and so on (reorder the label columns
    to match your grouping). ELU follows each attention layer; both
    attention layers have a residual. ``attention=False`` replaces each
    attention layer by a per-node FC with the same input and output sizes
    (no mixing between nodes): the ablation of the write-up.

    Args:
        backbone, feat_dim, num_classes: as :class:`LinearHead`.
        classes_per_group (list of int, optional): group sizes, summing to
            ``num_classes`` (e.g. :data:`COCO_CLASSES_PER_GROUP`). Default:
            :func:`balanced_groups`.
        group_dim (int): channels per group node. (default: :obj:`32`)
        class_dim (int): channels per class node. (default: :obj:`16`)
        hidden (int): the first FC's output. (default: :obj:`256`)
        heads (int): attention heads (averaged). (default: :obj:`1`)
        attention (bool): use graph attention (:obj:`True`) or the FC
            ablation. (default: :obj:`True`)
        dropout (float): dropout on features and attention weights.
        label_graph: optional; restricts attention inside a group to its
            edges (self-loops kept). See the module doc.
    """

    def __init__(self, backbone: nn.Module, feat_dim: int, num_classes: int,
                 classes_per_group: Optional[Sequence[int]] = None, group_dim: int = 32,
                 class_dim: int = 16, hidden: int = 256, heads: int = 1, attention: bool = True,
                 dropout: float = 0.0, label_graph: Any = None):
        super().__init__()
        _check_common(backbone, feat_dim, num_classes)
        self.backbone, self.feat_dim, self.num_classes = backbone, feat_dim, num_classes
        if classes_per_group is None:
            classes_per_group = balanced_groups(num_classes)
        try:
            cpg = [int(n) for n in classes_per_group]
        except (TypeError, ValueError):
            raise GraphclsError(f"classes_per_group must be a list of positive ints, "
                                f"got {classes_per_group!r}") from None
        if not cpg or any(n < 1 for n in cpg) or any(float(a) != b for a, b in zip(classes_per_group, cpg)):
            raise GraphclsError(f"classes_per_group must be a non-empty list of positive ints, got {cpg}")
        if sum(cpg) != num_classes:
            raise GraphclsError(f"classes_per_group sums to {sum(cpg)} but num_classes = {num_classes}")
        self.classes_per_group = cpg
        g = len(cpg)
        self.num_groups, self.group_dim, self.class_dim = g, group_dim, class_dim
        self.attention_enabled = bool(attention)

        group_of_class = torch.repeat_interleave(torch.arange(g), torch.tensor(cpg))
        self.register_buffer("group_of_class", group_of_class)
        class_mask = group_of_class[:, None] == group_of_class[None, :]
        graph = _resolve_label_graph(label_graph, num_classes)
        if graph is not None:
            class_mask = class_mask & label_mask(graph, self_loops=True)
        self.register_buffer("class_mask", class_mask)
        self.register_buffer("group_mask", torch.ones(g, g, dtype=torch.bool))

        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(feat_dim, hidden)
        self.fc2 = nn.Linear(hidden, g * group_dim)
        self.group_fc = _GroupedLinear(g, group_dim, group_dim)
        self.class_fc = _GroupedLinear(num_classes, group_dim, class_dim)
        self.out_fc = _GroupedLinear(num_classes, class_dim, 1)
        if attention:
            self.group_att = MaskedGraphAttention(group_dim, group_dim, heads=heads, concat=False,
                                                  residual=True, dropout=dropout)
            self.class_att = MaskedGraphAttention(class_dim, class_dim, heads=heads, concat=False,
                                                  residual=True, dropout=dropout)
        else:
            self.group_att = _NodeFC(group_dim, group_dim)
            self.class_att = _NodeFC(class_dim, class_dim)

    def reset_parameters(self) -> None:
        for m in (self.fc1, self.fc2, self.group_fc, self.class_fc, self.out_fc, self.group_att,
                  self.class_att):
            m.reset_parameters()

    def forward(self, images: Tensor) -> Tensor:
        f = pool_features(self.backbone(images), self.feat_dim)
        b = f.shape[0]
        h = F.relu(self.fc1(self.dropout(f)))
        h = F.relu(self.fc2(self.dropout(h))).view(b, self.num_groups, self.group_dim)
        gfeat = F.relu(self.group_fc(h))                              # [B, G, group_dim]
        gfeat = F.elu(self.group_att(gfeat, self.group_mask))
        cfeat = F.relu(self.class_fc(gfeat[:, self.group_of_class]))  # [B, C, class_dim]
        cfeat = F.elu(self.class_att(cfeat, self.class_mask))
        return self.out_fc(self.dropout(cfeat)).squeeze(-1)           # [B, C]


class _DenseGCNLayer(nn.Module):
    r""":math:`X' = \hat{A} X W + X W_{\text{root}} + b` for a dense :math:`\hat{A}`."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self.root = nn.Linear(in_channels, out_channels)

    def reset_parameters(self) -> None:
        glorot(self.lin.weight)
        self.root.reset_parameters()

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        return adj @ self.lin(x) + self.root(x)


class SampleGraphHead(nn.Module):
    r"""A GCN whose nodes are the samples of the minibatch.

    Features :math:`f \in \mathbb{R}^{B \times d}` are projected to
    :math:`z = f W_e \in \mathbb{R}^{B \times e}`; the unnormalised edge
    similarity is :math:`S = z z^\top / \sqrt{e}` (returned, for the edge
    loss against :func:`~pyg_graphcls.graphs.sample_graph.label2edge`). The GCN
    uses :math:`A_{ab} = \sigma(S_{ab})` (:math:`a \ne b`), :math:`A_{aa} = 1`,
    :math:`\hat{A} = D^{-1/2} A D^{-1/2}`, and layers
    :math:`X' = \hat{A} X W + X W_{\text{root}} + b` (ReLU and dropout
    between layers), so each sample keeps its own features next to its
    neighbours'. The graph comes from the features only: ``forward`` never
    sees labels, so predictions cannot use other samples' labels at eval
    time. They do depend on which other images share the batch (with
    :math:`B = 1` the sample only sees itself).

    ``gnn=False`` swaps the GCN layers for an MLP with the same sizes (and
    still returns :math:`S`).

    Args:
        backbone, feat_dim, num_classes: as :class:`LinearHead`.
        hidden (int): hidden channels. (default: :obj:`128`)
        gnn (bool): GCN (:obj:`True`) or plain MLP head. (default: :obj:`True`)
        num_layers (int): layers of the GCN / MLP (>= 1). (default: :obj:`2`)
        edge_dim (int): size :math:`e` of the projection used for
            :math:`S`. (default: :obj:`64`)
        dropout (float): dropout between layers. (default: :obj:`0.0`)

    Returns (``forward``):
        ``(logits [B, num_classes], edge_logits [B, B])``.
    """

    returns_edge_logits = True

    def __init__(self, backbone: nn.Module, feat_dim: int, num_classes: int, hidden: int = 128,
                 gnn: bool = True, num_layers: int = 2, edge_dim: int = 64, dropout: float = 0.0):
        super().__init__()
        _check_common(backbone, feat_dim, num_classes)
        if not isinstance(num_layers, int) or num_layers < 1:
            raise GraphclsError(f"num_layers must be an int >= 1, got {num_layers!r}")
        self.backbone, self.feat_dim, self.num_classes = backbone, feat_dim, num_classes
        self.gnn, self.edge_dim = bool(gnn), edge_dim
        self.edge_proj = nn.Linear(feat_dim, edge_dim, bias=False)
        dims = [feat_dim] + [hidden] * (num_layers - 1) + [num_classes]
        if self.gnn:
            self.layers = nn.ModuleList(_DenseGCNLayer(a, b) for a, b in zip(dims[:-1], dims[1:]))
        else:
            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        glorot(self.edge_proj.weight)
        for layer in self.layers:
            layer.reset_parameters()

    def edge_logits(self, features: Tensor) -> Tensor:
        z = self.edge_proj(features)
        return z @ z.t() / math.sqrt(self.edge_dim)

    @staticmethod
    def normalized_adjacency(edge_logits: Tensor) -> Tensor:
        r""":math:`D^{-1/2} A D^{-1/2}` with :math:`A = \sigma(S)` off the diagonal, 1 on it."""
        a = torch.sigmoid(edge_logits)
        eye = torch.eye(a.shape[0], dtype=torch.bool, device=a.device)
        a = a.masked_fill(eye, 1.0)
        d = a.sum(dim=1).rsqrt()
        return d[:, None] * a * d[None, :]

    def forward(self, images: Tensor):
        f = pool_features(self.backbone(images), self.feat_dim)
        s = self.edge_logits(f)
        h = self.dropout(f)
        adj = self.normalized_adjacency(s) if self.gnn else None
        for i, layer in enumerate(self.layers):
            h = layer(h, adj) if self.gnn else layer(h)
            if i < len(self.layers) - 1:
                h = self.dropout(F.relu(h))
        return h, s


# ------------------------------------------------------------ registry

def _backbone(in_channels: int, feat_dim: int, width: int) -> ConvNet:
    """The heads' image backbone: :class:`~pyg_graphcls.models.ConvNet` with blocks ``width``,
    ``2 * width``, ``4 * width`` (2x2 pooling after each) and ``feat_dim`` outputs."""
    return ConvNet(in_channels, feat_dim, (width, 2 * width, 4 * width), pool_after=(0, 1, 2))


@register_model("head-linear")
def build_linear_head(num_classes: int, in_channels: int = 1, feat_dim: int = 128, width: int = 32,
                      dropout: float = 0.0) -> LinearHead:
    """ConvNet backbone + :class:`LinearHead`."""
    return LinearHead(_backbone(in_channels, feat_dim, width), feat_dim, num_classes, dropout=dropout)


@register_model("head-label-attention")
def build_label_attention_head(num_classes: int, in_channels: int = 1, feat_dim: int = 128,
                               width: int = 32, label_graph: Any = None,
                               mask_threshold: Optional[float] = None, hidden: int = 16,
                               heads: int = 1, embed_dim: int = 0, dropout: float = 0.0,
                               mask_mode: str = "inf") -> LabelAttentionHead:
    """ConvNet backbone + :class:`LabelAttentionHead` (``label_graph``: path or nested list for JSON configs)."""
    return LabelAttentionHead(_backbone(in_channels, feat_dim, width), feat_dim, num_classes,
                              label_graph=label_graph, mask_threshold=mask_threshold, hidden=hidden,
                              heads=heads, embed_dim=embed_dim, dropout=dropout, mask_mode=mask_mode)


@register_model("head-mlgcn")
def build_mlgcn_head(num_classes: int, in_channels: int = 1, feat_dim: int = 128, width: int = 32,
                     label_graph: Any = None, embeddings: Any = None, embed_dim: int = 64,
                     hidden: int = 256, learn_embeddings: Optional[bool] = None,
                     negative_slope: float = 0.2, bias: bool = True) -> MLGCN:
    """ConvNet backbone + :class:`MLGCN` (``label_graph``: path or nested list for JSON configs)."""
    return MLGCN(_backbone(in_channels, feat_dim, width), feat_dim, num_classes, label_graph=label_graph,
                 embeddings=embeddings, embed_dim=embed_dim, hidden=hidden,
                 learn_embeddings=learn_embeddings, negative_slope=negative_slope, bias=bias)


@register_model("head-grouped")
def build_grouped_head(num_classes: int, in_channels: int = 1, feat_dim: int = 128, width: int = 32,
                       classes_per_group: Optional[List[int]] = None, group_dim: int = 32,
                       class_dim: int = 16, hidden: int = 256, heads: int = 1, attention: bool = True,
                       dropout: float = 0.0, label_graph: Any = None) -> GroupedLabelAttentionHead:
    """ConvNet backbone + :class:`GroupedLabelAttentionHead`."""
    return GroupedLabelAttentionHead(_backbone(in_channels, feat_dim, width), feat_dim, num_classes,
                                     classes_per_group=classes_per_group, group_dim=group_dim,
                                     class_dim=class_dim, hidden=hidden, heads=heads,
                                     attention=attention, dropout=dropout, label_graph=label_graph)


@register_model("head-sample-graph")
def build_sample_graph_head(num_classes: int, in_channels: int = 1, feat_dim: int = 128, width: int = 32,
                            hidden: int = 128, gnn: bool = True, num_layers: int = 2, edge_dim: int = 64,
                            dropout: float = 0.0) -> SampleGraphHead:
    """ConvNet backbone + :class:`SampleGraphHead`; forward returns ``(logits, edge_logits)``."""
    return SampleGraphHead(_backbone(in_channels, feat_dim, width), feat_dim, num_classes, hidden=hidden,
                           gnn=gnn, num_layers=num_layers, edge_dim=edge_dim, dropout=dropout)
