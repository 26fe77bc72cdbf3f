r"""Graphs over the samples of a minibatch.

* :func:`label2edge` turns the labels of a batch into the target adjacency
  :math:`T_{ab} = 1` when samples :math:`a` and :math:`b` share a class;
* :func:`edge_loss` is the binary cross-entropy between predicted edge logits
  and that target (the *edge loss* of the sample-graph head);
* :func:`sample_graph` builds a PyG :class:`~torch_geometric.data.Data` whose
  nodes are the samples, joined by cosine similarity of their features
  (the ``k`` most similar through :func:`~pyg_graphcls.graphs.edges.knn_graph`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import GraphclsError
from .edges import knn_graph

if TYPE_CHECKING:
    from torch_geometric.data import Data

__all__ = ["label2edge", "edge_loss", "sample_graph", "cosine_similarity_matrix"]


def label2edge(y: Tensor) -> Tensor:
    r"""Target edge matrix of a batch: 1 where two samples share a class.

    Args:
        y (torch.Tensor): class ids :obj:`[B]` (integer dtype), or multi-hot
            targets :obj:`[B, C]` (an entry :math:`> 0` means the class is
            present).

    Returns:
        :obj:`[B, B]` float tensor :math:`T` with
        :math:`T_{ab} = [y_a = y_b]` (class ids) or
        :math:`T_{ab} = [\langle y_a, y_b \rangle > 0]` (multi-hot). The
        diagonal is 1, except for a multi-hot sample with no class at all,
        which shares nothing with anyone (itself included).
    """
    if not isinstance(y, Tensor):
        raise GraphclsError(f"y must be a torch.Tensor, got {type(y).__name__}")
    if y.dim() == 1:
        if y.is_floating_point() or y.is_complex():
            raise GraphclsError("y of shape [B] must hold integer class ids; "
                                "pass multi-hot targets as [B, C]")
        return (y[:, None] == y[None, :]).float()
    if y.dim() == 2:
        pos = (y > 0).float()
        return (pos @ pos.t() > 0).float()
    raise GraphclsError(f"y must have shape [B] (class ids) or [B, C] (multi-hot), "
                        f"got {tuple(y.shape)}")


def edge_loss(
    edge_logits: Tensor,
    target: Tensor,
    *,
    ignore_diagonal: bool = True,
    pos_weight: Union[None, float, str] = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Binary cross-entropy with logits between edge scores and a target graph.

    .. math::
        \mathcal{L} = -\frac{1}{|\Omega|} \sum_{(a,b) \in \Omega}
        w\, T_{ab} \log \sigma(S_{ab}) + (1 - T_{ab}) \log(1 - \sigma(S_{ab}))

    over the pairs :math:`\Omega` (all pairs, or all off-diagonal pairs).

    Args:
        edge_logits (torch.Tensor): unnormalised similarities :math:`S`,
            shape :obj:`[B, B]`.
        target (torch.Tensor): :math:`T \in \{0, 1\}^{B \times B}`, usually
            ``label2edge(y)``.
        ignore_diagonal (bool): leave out the :math:`B` self-pairs, which are
            trivially positive. With :math:`B = 1` nothing is left and the
            loss is :obj:`0` (still differentiable). (default: :obj:`True`)
        pos_weight (float or ``"balanced"``, optional): weight :math:`w` of
            positive pairs; ``"balanced"`` uses #negatives / #positives of
            this batch (1 when there is no positive pair).
        reduction (str): ``"mean"``, ``"sum"`` or ``"none"`` (returns the
            per-pair loss :obj:`[B, B]`, zero on ignored pairs).
    """
    if not isinstance(edge_logits, Tensor) or edge_logits.dim() != 2 \
            or edge_logits.shape[0] != edge_logits.shape[1]:
        shape = tuple(edge_logits.shape) if isinstance(edge_logits, Tensor) else type(edge_logits).__name__
        raise GraphclsError(f"edge_logits must be a square [B, B] tensor, got {shape}")
    if not isinstance(target, Tensor) or tuple(target.shape) != tuple(edge_logits.shape):
        shape = tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__
        raise GraphclsError(f"target must have the shape of edge_logits {tuple(edge_logits.shape)}, "
                            f"got {shape}; build it with label2edge(y)")
    if reduction not in ("mean", "sum", "none"):
        raise GraphclsError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    b = edge_logits.shape[0]
    target = target.to(edge_logits.dtype)
    keep = torch.ones(b, b, dtype=torch.bool, device=edge_logits.device)
    if ignore_diagonal:
        keep.fill_diagonal_(False)
    if pos_weight is None:
        pw = None
    elif pos_weight == "balanced":
        t = target[keep]
        npos = t.sum()
        nneg = t.numel() - npos
        pw = torch.where(npos > 0, nneg / npos.clamp(min=1), torch.ones_like(npos)).detach()
    elif isinstance(pos_weight, (int, float)) and pos_weight > 0:
        pw = torch.tensor(float(pos_weight), dtype=edge_logits.dtype, device=edge_logits.device)
    else:
        raise GraphclsError(f"pos_weight must be None, a positive number or 'balanced', got {pos_weight!r}")
    per = F.binary_cross_entropy_with_logits(edge_logits, target, reduction="none", pos_weight=pw)
    per = per * keep.to(per.dtype)
    if reduction == "none":
        return per
    total = per.sum()
    if reduction == "sum":
        return total
    return total / keep.sum().clamp(min=1)


def cosine_similarity_matrix(features: Tensor, eps: float = 1e-8) -> Tensor:
    r"""Pairwise cosine similarity :obj:`[B, B]` of the rows of ``features`` :obj:`[B, D]`.
    A zero row has similarity 0 with everything."""
    z = F.normalize(features, p=2.0, dim=-1, eps=eps)
    return z @ z.t()


def sample_graph(
    features: Tensor,
    k: Optional[int] = None,
    threshold: Optional[float] = None,
    self_loops: bool = False,
) -> Data:
    r"""A graph over the samples of a batch from the cosine similarity of their features.

    Node :math:`a` receives an edge from :math:`b \ne a` when :math:`b` is
    among the ``k`` most similar samples to :math:`a` (:func:`~pyg_graphcls.graphs.edges.knn_graph`
    with ``cosine=True``: ties go to the lower index) and/or the similarity reaches ``threshold``. With
    neither given every pair is joined. The edge weight is the cosine
    similarity clamped at zero, so it is never negative (safe for
    ``GCNConv``'s degree normalisation).

    Args:
        features (torch.Tensor): :obj:`[B, D]`.
        k (int, optional): neighbours per node; clipped to :math:`B - 1`.
        threshold (float, optional): minimum cosine similarity in
            :math:`[-1, 1]`.
        self_loops (bool): also add :math:`(a, a)` with weight 1.
            (default: :obj:`False`; ``GCNConv`` adds its own)

    Returns:
        :class:`Data` with ``x = features``, ``edge_index`` :obj:`[2, E]`
        (row 0 = source :math:`b`, row 1 = target :math:`a`),
        ``edge_weight`` :obj:`[E]`, ``num_nodes = B``. Edges are sorted by
        target. Gradients flow from ``edge_weight`` to ``features``.
    """
    if not isinstance(features, Tensor) or features.dim() != 2:
        shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
        raise GraphclsError(f"features must be a [B, D] tensor, got {shape}")
    if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
        raise GraphclsError(f"k must be a positive int or None, got {k!r}")
    if threshold is not None and not (-1.0 <= float(threshold) <= 1.0):
        raise GraphclsError(f"threshold must be a cosine similarity in [-1, 1], got {threshold!r}")
    b = features.shape[0]
    sim = cosine_similarity_matrix(features)
    eye = torch.eye(b, dtype=torch.bool, device=features.device)
    keep = ~eye
    if k is not None:
        kk = min(k, b - 1)
        topk_mask = torch.zeros_like(keep)
        if kk > 0:
            nn_src, nn_dst = knn_graph(features.detach(), kk, cosine=True)
            topk_mask[nn_dst, nn_src] = True
        keep = keep & topk_mask
    if threshold is not None:
        keep = keep & (sim.detach() >= float(threshold))
    if self_loops:
        keep = keep | eye
    dst, src = keep.nonzero(as_tuple=True)
    weight = sim[dst, src].clamp(min=0.0)
    if self_loops:
        weight = torch.where(dst == src, torch.ones_like(weight), weight)
    from torch_geometric.data import Data

    return Data(x=features, edge_index=torch.stack([src, dst]), edge_weight=weight, num_nodes=b)
