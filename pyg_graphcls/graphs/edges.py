r"""Edges for image graphs: the one kNN, region adjacency, grid neighbours, edge features.

:func:`knn_graph` is the kNN of every builder. It runs, in order of preference:

- PyG's compiled kNN (``pyg-lib``'s ``knn`` op, which PyG 2.8 calls from
  :func:`torch_geometric.nn.knn_graph`; ``torch-cluster`` on older installs) when
  importable: neither installs from the package index, so neither is required
  (without pyg-lib this module never imports PyG: a conversion runs without it);
- one small graph on CPU: a numpy distance matrix (at 75 nodes ~10x faster than
  torch, whose per-call overhead dominates there);
- many small 2-D graphs on CPU: the compiled loop of ``csrc/knn.cpp``
  (:mod:`~pyg_graphcls.graphs._compiled`) when it builds (~17 us per 75-node graph, k = 8);
- otherwise a batched tensor path over zero-padded graphs, chunked over query rows.

Every fallback orders each node's sources by (distance, index), a stable sort
(ties go to the lower index); for 2-D positions (every image graph's ``pos``)
the distances are :math:`(x_j - x_i)^2 + (y_j - y_i)^2` in float32 on every
path, so the fallbacks agree to the bit. Feature-space kNN (``D > 2``) of the
batched path uses ``torch.cdist``'s matrix-product form, whose rounding may
order near-ties differently. The
compiled libraries return the same neighbour sets except between equal
distances, where they may choose another of the tied nodes.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from ..errors import GraphclsError
from . import _compiled

__all__ = ["knn_graph", "knn_padded", "region_adjacency", "grid_edges", "gaussian_edge_weights",
           "edge_features", "EDGE_FEATURES", "HAS_COMPILED_KNN"]


def _library_knn():
    """PyG's compiled ``knn_graph`` (pyg-lib) or torch-cluster's, whichever imports; ``None`` if neither.

    Each library is looked for before it is imported: PyG (about 2 s to import, most of it
    ``torch._dynamo``) is imported only when pyg-lib is installed, to run the kNN through it."""
    from importlib.util import find_spec

    try:
        if find_spec("pyg_lib") is not None:
            import torch_geometric.typing as pyg_typing
            if getattr(pyg_typing, "WITH_KNN", False):
                from torch_geometric.nn.pool import knn_graph as pyg_knn_graph
                return pyg_knn_graph
    except Exception:  # pragma: no cover - depends on the machine
        pass
    try:
        if find_spec("torch_cluster") is not None:
            import torch_cluster
            return torch_cluster.knn_graph
    except Exception:  # pragma: no cover - depends on the machine
        pass
    return None


_LIBRARY_KNN = _library_knn()
#: whether a compiled kNN library (pyg-lib or torch-cluster) is importable
HAS_COMPILED_KNN = _LIBRARY_KNN is not None

_SMALL = 1024     # one graph up to this many nodes on CPU: the numpy path
_BUDGET = 1 << 24  # distance entries per block of the padded path (bounds memory at ~64 MB)


def _smallest(d: Tensor, kk: int) -> Tensor:
    """Indices of the ``kk`` smallest entries of each row of ``d [..., M]`` in (value, index) order:
    the first ``kk`` of a stable sort. Long rows take ``topk`` for the ``kk``-th value, then every
    entry below it and the lowest-index entries equal to it (a full stable sort of rows of a few
    thousand costs ~15x more)."""
    if d.size(-1) <= 128:
        return torch.sort(d, dim=-1, stable=True)[1][..., :kk]
    thr = torch.topk(d, kk, dim=-1, largest=False).values[..., -1:]
    less, eq = d < thr, d == thr
    take = less | (eq & (eq.cumsum(-1) <= kk - less.sum(-1, keepdim=True)))   # exactly kk per row
    cols = take.nonzero()[:, -1].view(*d.shape[:-1], kk)                      # ascending index per row
    order = torch.sort(d.gather(-1, cols), dim=-1, stable=True)[1]
    return cols.gather(-1, order)


def knn_padded(pos: Tensor, counts: Tensor, k: int, loop: bool = False,
               use_cpp: Optional[bool] = None) -> tuple[Tensor, Tensor, Tensor]:
    r"""kNN of many graphs stored zero-padded, without a compiled library.

    Args:
        pos (Tensor): coordinates ``[B, M, D]``, graph ``b`` in rows ``0..counts[b]-1``.
        counts (Tensor): nodes per graph ``[B]`` (long).
        k (int): neighbours per node (``min(k, n - 1)`` per node of an ``n``-node graph,
            ``min(k, n)`` with ``loop``).
        loop (bool): count each node as its own neighbour.
        use_cpp (bool, optional): allow the compiled loop of ``csrc/knn.cpp`` (CPU,
            ``D = 2``, no ``loop``); default: when it builds.

    Returns:
        ``(src, dst, n_edges)``: local node indices, ordered by graph, then target, then
        (distance, index); ``n_edges [B]`` edges per graph.
    """
    B, M, D = pos.shape
    dev = pos.device
    counts = counts.to(dev).long()
    per_node = (counts if loop else (counts - 1).clamp(min=0)).clamp(max=k)
    n_edges = per_node * counts
    mod = _compiled.load() if (dev.type == "cpu" and use_cpp is not False and D == 2 and not loop) else None
    if mod is not None:
        ei = mod.knn_small(pos.float().contiguous(), counts.contiguous(), int(k))
        return ei[0], ei[1], n_edges
    kk = min(k, M if loop else M - 1)
    if kk <= 0:
        z = torch.zeros(0, dtype=torch.long, device=dev)
        return z, z, torch.zeros(B, dtype=torch.long, device=dev)
    pos = pos.float()
    valid = torch.arange(M, device=dev).view(1, M) < counts.view(B, 1)
    rows = max(1, min(M, _BUDGET // max(B * M * min(D, 2), 1)))
    parts = []
    for start in range(0, M, rows):
        q = pos[:, start:start + rows]                                       # [B, m, D]
        if D <= 2:  # positions: the exact squared distances (the numpy path's and the compiled loop's)
            d = ((q.unsqueeze(2) - pos.unsqueeze(1)) ** 2).sum(-1)           # [B, m, M]
        else:  # features: cdist's matrix-product form, ~50x faster at D = 48 (ties may round apart)
            d = torch.cdist(q, pos)
        d.masked_fill_(~valid.unsqueeze(1), float("inf"))
        if not loop:  # a node is never its own neighbour
            m = q.size(1)
            d[:, torch.arange(m, device=dev), torch.arange(start, start + m, device=dev)] = float("inf")
        parts.append(_smallest(d, kk))
    idx = torch.cat(parts, 1)                                                # [B, M, kk]
    keep = valid.unsqueeze(-1) & (torch.arange(kk, device=dev).view(1, 1, kk) < per_node.view(B, 1, 1))
    dst = torch.arange(M, device=dev).view(1, M, 1).expand(B, M, kk)
    return idx[keep], dst[keep], n_edges


def _pad_graphs(x: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
    """The nodes ``x [N, D]`` of graphs numbered by the sorted ``batch [N]`` as zero-padded rows
    ``[B, M, D]`` (``B = max(batch) + 1``, ``M`` the largest graph) and the node count of each graph
    ``[B]``: PyG's ``to_dense_batch`` layout."""
    counts = torch.bincount(batch)
    first = counts.cumsum(0) - counts                                        # first node of each graph
    local = torch.arange(x.size(0), device=x.device) - first[batch]
    dense = x.new_zeros(counts.numel(), int(counts.max()), x.size(1))
    dense[batch, local] = x
    return dense, counts


def knn_graph(x: Tensor, k: int, batch: Optional[Tensor] = None, loop: bool = False,
              cosine: bool = False, use_compiled: Optional[bool] = None) -> Tensor:
    r"""Edges from each node's ``k`` nearest neighbours (within its graph).

    Node :math:`i` receives an edge from each :math:`j` among the ``k`` smallest
    :math:`\lVert \mathbf{x}_j - \mathbf{x}_i 
Vert^2` (:math:`j 
e i` unless
    ``loop``), ties broken by the lower index :math:`j`; with ``cosine`` the rows
    are L2-normalised first (the same ranking as the cosine distance).

    Args:
        x (Tensor): node coordinates or features ``[N, D]``.
        k (int): neighbours per node; fewer when a graph has ``<= k`` nodes.
        batch (Tensor, optional): graph id per node ``[N]``, sorted.
        loop (bool): count each node as its own neighbour.
        cosine (bool): cosine instead of Euclidean distance.
        use_compiled (bool, optional): use (``True``) or forbid (``False``) a
            compiled library (pyg-lib, torch-cluster); default: when importable.

    Returns:
        edge_index ``[2, E]`` with ``edge_index[0]`` the neighbour (source) and
        ``edge_index[1]`` the centre node (target), PyG's ``source_to_target``
        flow, grouped by target: every node receives ``min(k, n - 1)`` edges
        (``min(k, n)`` with ``loop``) from the ``n`` nodes of its graph.

    Shapes:
        - **input:** ``x [N, D]``, ``batch [N]``
        - **output:** ``[2, E]``, long, on ``x``'s device
    """
    if x.dim() != 2:
        raise GraphclsError(f"knn_graph: x must be [N, D], got shape {tuple(x.shape)}")
    if k < 0:
        raise GraphclsError(f"knn_graph: k must be >= 0, got {k}")
    n = x.size(0)
    if n == 0 or k == 0:
        return torch.empty(2, 0, dtype=torch.long, device=x.device)
    if use_compiled is None:
        use_compiled = HAS_COMPILED_KNN
    if use_compiled:
        if _LIBRARY_KNN is None:
            raise GraphclsError("knn_graph(use_compiled=True) needs pyg-lib or torch-cluster")
        return _LIBRARY_KNN(x, k, batch=batch, loop=loop, cosine=cosine)

    x = x.float()
    if cosine:
        x = torch.nn.functional.normalize(x, dim=-1)
    if batch is None and n <= _SMALL and x.device.type == "cpu":
        p = x.numpy()
        d = ((p[:, None, :] - p[None, :, :]) ** 2).sum(-1)
        if not loop:
            np.fill_diagonal(d, np.inf)
        kk = min(k, n if loop else n - 1)
        if kk <= 0:
            return torch.empty(2, 0, dtype=torch.long)
        idx = np.argsort(d, axis=1, kind="stable")[:, :kk]
        dst = np.repeat(np.arange(n), kk)
        return torch.from_numpy(np.stack([idx.reshape(-1), dst]).astype(np.int64))
    if batch is None:
        batch = torch.zeros(n, dtype=torch.long, device=x.device)
    dense, counts = _pad_graphs(x, batch)                                    # [B, M, D], [B]
    src, dst, n_edges = knn_padded(dense, counts, k, loop=loop)
    offsets = torch.cumsum(counts, 0) - counts                               # first node of each graph
    shift = torch.repeat_interleave(offsets, n_edges)
    return torch.stack([src + shift, dst + shift])


def region_adjacency(seg: np.ndarray | Tensor, connectivity: int = 8) -> Tensor:
    """Undirected edges between segments whose pixels touch.

    Args:
        seg: ``[H, W]`` integer labels ``0..n-1``.
        connectivity: 4 (shared side) or 8 (side or corner).

    Returns:
        edge_index ``[2, E]``, both directions, no self-loops, sorted.
    """
    if connectivity not in (4, 8):
        raise GraphclsError(f"connectivity must be 4 or 8, got {connectivity}")
    s = seg.cpu().numpy() if isinstance(seg, Tensor) else np.asarray(seg)
    if s.ndim != 2:
        raise GraphclsError(f"seg must be [H, W], got shape {s.shape}")
    pairs = [(s[:, :-1], s[:, 1:]), (s[:-1, :], s[1:, :])]
    if connectivity == 8:
        pairs += [(s[:-1, :-1], s[1:, 1:]), (s[:-1, 1:], s[1:, :-1])]
    a = np.concatenate([p[0].ravel() for p in pairs]).astype(np.int64)
    b = np.concatenate([p[1].ravel() for p in pairs]).astype(np.int64)
    keep = a != b
    a, b = a[keep], b[keep]
    n = int(s.max()) + 1 if s.size else 0
    key = np.unique(np.concatenate([a * n + b, b * n + a]))
    return torch.from_numpy(np.stack([key // max(n, 1), key % max(n, 1)]))


@lru_cache(maxsize=64)
def _grid_edges(h: int, w: int, connectivity: int) -> Tensor:
    idx = np.arange(h * w).reshape(h, w)
    offsets = [(0, 1), (1, 0)] if connectivity == 4 else [(0, 1), (1, 0), (1, 1), (1, -1)]
    src, dst = [], []
    for dy, dx in offsets:
        # explicit ends: ``h + min(0, dy) or None`` would turn an empty slice (end 0) into a full one
        a = idx[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
        b = idx[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)]
        src += [a.ravel(), b.ravel()]
        dst += [b.ravel(), a.ravel()]
    src = np.concatenate(src) if src else np.zeros(0, np.int64)
    dst = np.concatenate(dst) if dst else np.zeros(0, np.int64)
    order = np.lexsort((src, dst))
    return torch.from_numpy(np.stack([src[order], dst[order]]).astype(np.int64))


def grid_edges(h: int, w: int, connectivity: int = 8) -> Tensor:
    """Edges of an ``h x w`` grid (row-major node ids), both directions, no self-loops.

    Every interior node has ``connectivity`` neighbours; node ``r * w + c`` sits
    at row ``r``, column ``c``.
    """
    if connectivity not in (4, 8):
        raise GraphclsError(f"connectivity must be 4 or 8, got {connectivity}")
    return _grid_edges(int(h), int(w), int(connectivity)).clone()


def gaussian_edge_weights(pos: Tensor, edge_index: Tensor) -> Tensor:
    r"""Benchmarking-GNNs' edge weight :math:`\exp(-(d_{ij}/\sigma_i)^2)`.

    :math:`d_{ij}` is the distance between the endpoints and :math:`\sigma_i` the
    mean distance from the target node ``i`` to all its sources (its k nearest
    neighbours in a kNN graph). Nodes whose neighbours all sit on top of them
    (:math:`\sigma_i = 0`) get weight 1.
    """
    src, dst = edge_index
    d = (pos[src] - pos[dst]).norm(dim=-1)
    n = pos.size(0)
    total = torch.zeros(n, dtype=d.dtype, device=d.device).index_add_(0, dst, d)
    cnt = torch.zeros(n, dtype=d.dtype, device=d.device).index_add_(0, dst, torch.ones_like(d))
    sigma = (total / cnt.clamp(min=1))[dst]
    w = torch.where(sigma > 0, torch.exp(-(d / sigma.clamp(min=1e-12)) ** 2), torch.ones_like(d))
    return w


EDGE_FEATURES = ("distance", "gaussian", "cartesian")


def edge_features(pos: Tensor, edge_index: Tensor, names, scale: float) -> Optional[Tensor]:
    """Stack the requested edge features into ``edge_attr [E, D]``.

    ``distance``: endpoint distance / ``scale``; ``gaussian``: see
    :func:`gaussian_edge_weights`; ``cartesian``: ``(pos_src - pos_dst) / scale``
    (2 columns). ``scale`` is the larger image side, so features are size-free.
    """
    names = tuple(names or ())
    bad = [n for n in names if n not in EDGE_FEATURES]
    if bad:
        raise GraphclsError(f"unknown edge feature(s) {bad}; choose from {EDGE_FEATURES}")
    if not names:
        return None
    src, dst = edge_index
    cols = []
    for name in names:
        if name == "distance":
            cols.append(((pos[src] - pos[dst]).norm(dim=-1) / scale)[:, None])
        elif name == "gaussian":
            cols.append(gaussian_edge_weights(pos, edge_index)[:, None])
        else:
            cols.append((pos[src] - pos[dst]) / scale)
    return torch.cat(cols, dim=1).float()
