"""Edges for image graphs: kNN, region adjacency, grid neighbours, edge weights.

kNN works without ``torch-cluster``/``pyg-lib`` (neither installs from the
package index): a batched ``torch.cdist`` + ``topk`` over zero-padded graphs,
chunked so memory stays bounded. When ``torch_cluster`` is importable its
compiled ``knn_graph`` is used instead (same edges up to ties).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional

import numpy as np
import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from ..errors import GraphclsError

__all__ = ["knn_graph", "region_adjacency", "grid_edges", "gaussian_edge_weights",
           "edge_features", "HAS_TORCH_CLUSTER"]

try:  # optional compiled extra
    import torch_cluster  # noqa: F401
    HAS_TORCH_CLUSTER = True
except Exception:  # pragma: no cover - depends on the machine
    HAS_TORCH_CLUSTER = False

_CHUNK = 4096  # query rows per cdist block: bounds memory at CHUNK * N floats


def knn_graph(x: Tensor, k: int, batch: Optional[Tensor] = None, loop: bool = False,
              cosine: bool = False, use_compiled: Optional[bool] = None) -> Tensor:
    r"""Edges from each node's ``k`` nearest neighbours (within its graph).

    Args:
        x (Tensor): node coordinates or features ``[N, D]``.
        k (int): neighbours per node; fewer when a graph has ``<= k`` nodes.
        batch (Tensor, optional): graph id per node ``[N]``, sorted.
        loop (bool): count each node as its own neighbour.
        cosine (bool): cosine instead of Euclidean distance.
        use_compiled (bool, optional): force (``True``) or forbid (``False``) the
            ``torch_cluster`` path; default uses it when installed.

    Returns:
        edge_index ``[2, E]`` with ``edge_index[0]`` the neighbour (source) and
        ``edge_index[1]`` the centre node (target), PyG's ``source_to_target``
        flow: every node receives ``min(k, n - 1)`` edges (``n`` if ``loop``).
    """
    if x.dim() != 2:
        raise GraphclsError(f"knn_graph: x must be [N, D], got shape {tuple(x.shape)}")
    if k < 0:
        raise GraphclsError(f"knn_graph: k must be >= 0, got {k}")
    n = x.size(0)
    if n == 0 or k == 0:
        return torch.empty(2, 0, dtype=torch.long, device=x.device)
    if use_compiled is None:
        use_compiled = HAS_TORCH_CLUSTER
    if use_compiled:
        import torch_cluster
        return torch_cluster.knn_graph(x, k, batch=batch, loop=loop, cosine=cosine)

    x = x.float()
    if cosine:
        x = torch.nn.functional.normalize(x, dim=-1)
    if batch is None and n <= 1024 and x.device.type == "cpu":
        # one small graph on CPU: a numpy distance matrix beats torch's per-op
        # overhead ~10x at n = 75 (measured; cdist's thread pool dominates)
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
    dense, mask = to_dense_batch(x, batch)  # [B, M, D], [B, M]
    B, M, _ = dense.shape
    kk = min(k, M)
    offsets = torch.zeros(B, dtype=torch.long, device=x.device)
    offsets[1:] = torch.cumsum(mask.sum(1), 0)[:-1]
    src_parts, dst_parts = [], []
    for start in range(0, M, _CHUNK):
        q = dense[:, start:start + _CHUNK]
        d = torch.cdist(q, dense)  # [B, m, M]
        d.masked_fill_(~mask[:, None, :], float("inf"))
        m = q.size(1)
        rows = torch.arange(start, start + m, device=x.device)
        if not loop:  # a node is never its own neighbour: push it past every real one
            d[:, torch.arange(m, device=x.device), rows] = float("inf")
        dist, idx = d.topk(kk, dim=-1, largest=False)  # [B, m, kk]
        valid = torch.isfinite(dist) & mask[:, start:start + m, None]
        centre = rows.view(1, m, 1).expand_as(idx)
        g = offsets.view(B, 1, 1).expand_as(idx)
        src_parts.append((idx + g)[valid])
        dst_parts.append((centre + g)[valid])
    src = torch.cat(src_parts)
    dst = torch.cat(dst_parts)
    # order by target node, then by distance rank (as produced)
    order = torch.argsort(dst, stable=True)
    return torch.stack([src[order], dst[order]])


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
