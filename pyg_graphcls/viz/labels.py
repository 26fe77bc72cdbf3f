"""Label co-occurrence graphs and attention maps."""
from __future__ import annotations

import math
import os
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..errors import GraphclsError
from .curves import new_figure, save_figure

__all__ = ["draw_label_graph", "draw_attention", "label_graph_matrix"]

_SYM_LABEL = "label_edges"
_ARROW_GID = "label_arrow"


def _np(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().float().numpy() if t.is_floating_point() else t.detach().cpu().numpy()
    return np.asarray(t)


def _attr(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    try:
        return getattr(obj, key, None)
    except (AttributeError, KeyError):
        return None


def label_graph_matrix(label_graph: Any) -> np.ndarray:
    """Dense ``[C, C]`` matrix ``M[i, j]`` = strength of ``i -> j``.

    ``cond_prob`` (``P(j | i)``) when present; else ``edge_weight`` (or 1)
    placed at ``[src, dst]`` of ``edge_index``; a bare ``[C, C]`` array or
    tensor is taken as it is.
    """
    if isinstance(label_graph, (np.ndarray, torch.Tensor)):
        m = _np(label_graph).astype(np.float64)
    else:
        cond = _attr(label_graph, "cond_prob")
        if cond is not None:
            m = _np(cond).astype(np.float64)
        else:
            ei = _attr(label_graph, "edge_index")
            c = _attr(label_graph, "num_nodes")
            if ei is None:
                raise GraphclsError("label graph has neither 'cond_prob' [C, C] nor 'edge_index': nothing to draw")
            ei = _np(ei).astype(np.int64)
            if ei.ndim != 2 or ei.shape[0] != 2:
                raise GraphclsError(f"label graph 'edge_index' must be [2, E], got shape {tuple(ei.shape)}")
            if c is None:
                c = int(ei.max()) + 1 if ei.size else 0
            c = int(c)
            w = _attr(label_graph, "edge_weight")
            w = np.ones(ei.shape[1]) if w is None else _np(w).astype(np.float64).reshape(-1)
            if w.shape[0] != ei.shape[1]:
                raise GraphclsError(f"label graph 'edge_weight' has {w.shape[0]} entries for {ei.shape[1]} edges")
            m = np.zeros((c, c))
            m[ei[0], ei[1]] = w
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise GraphclsError(f"label graph matrix must be square [C, C], got shape {tuple(m.shape)}")
    return np.nan_to_num(m)


def _names(names: Optional[Sequence[str]], obj: Any, c: int) -> list[str]:
    if names is None:
        names = _attr(obj, "names") if not isinstance(obj, (np.ndarray, torch.Tensor)) else None
    if names is None:
        return [str(i) for i in range(c)]
    names = [str(s) for s in names]
    if len(names) != c:
        raise GraphclsError(f"names has {len(names)} entries, expected C = {c}")
    return names


def draw_label_graph(label_graph: Any, names: Optional[Sequence[str]] = None, ax=None,
                     threshold: Optional[float] = None, layout: Any = "spring", seed: int = 0,
                     sym_tol: float = 0.05, max_width: float = 4.0, node_size: float = 300.0,
                     path: str | os.PathLike | None = None, figsize: tuple[float, float] = (6.0, 6.0)):
    """Draw a label co-occurrence graph with a networkx layout.

    An edge ``i -> j`` is drawn when ``P(j | i) >= threshold`` (default: the
    graph's own ``threshold`` attribute, else any non-zero value), with width
    proportional to ``P(j | i)``. A pair whose two directions are both kept
    and differ by at most ``sym_tol`` is one plain line (in a LineCollection,
    width by the mean); otherwise each kept direction is a curved arrow
    (FancyArrowPatch with gid ``'label_arrow'``). Self-loops are not drawn.
    ``layout``: ``'spring'``, ``'circular'``, ``'kamada_kawai'``, ``'shell'``
    or a dict ``{node: (x, y)}``. Returns the figure.
    """
    import networkx as nx
    from matplotlib.collections import LineCollection
    from matplotlib.patches import FancyArrowPatch

    m = label_graph_matrix(label_graph)
    c = m.shape[0]
    labels = _names(names, label_graph, c)
    if threshold is None:
        t = _attr(label_graph, "threshold") if not isinstance(label_graph, (np.ndarray, torch.Tensor)) else None
        threshold = float(t) if isinstance(t, (int, float)) else 0.0
    keep = (m >= threshold) & (m > 0)
    np.fill_diagonal(keep, False)

    G = nx.DiGraph()
    G.add_nodes_from(range(c))
    for i, j in zip(*np.nonzero(keep)):
        G.add_edge(int(i), int(j), weight=float(m[i, j]))
    if isinstance(layout, dict):
        pos = {k: np.asarray(v, dtype=float) for k, v in layout.items()}
        missing = [k for k in range(c) if k not in pos]
        if missing:
            raise GraphclsError(f"layout has no position for label(s) {missing[:5]}")
    elif layout == "spring":
        pos = nx.spring_layout(G.to_undirected(), seed=seed, weight="weight") if c > 1 else {0: np.zeros(2)}
    elif layout == "circular":
        pos = nx.circular_layout(G)
    elif layout == "kamada_kawai":
        pos = nx.kamada_kawai_layout(G.to_undirected()) if c > 1 else {0: np.zeros(2)}
    elif layout == "shell":
        pos = nx.shell_layout(G)
    else:
        raise GraphclsError(f"layout must be 'spring', 'circular', 'kamada_kawai', 'shell' or a dict, got {layout!r}")
    xy = np.array([pos[k] for k in range(c)], dtype=float).reshape(c, 2)

    if ax is None:
        fig, ax = new_figure(1, 1, figsize=figsize)
    else:
        fig = ax.figure

    radius = 0.5 * math.sqrt(max(node_size, 1.0))  # node marker radius in points
    vmax = float(m[keep].max()) if keep.any() else 1.0
    sym_segs, sym_w = [], []
    arrows = []
    for i in range(c):
        for j in range(i + 1, c):
            a, b = keep[i, j], keep[j, i]
            if not (a or b):
                continue
            if a and b and abs(m[i, j] - m[j, i]) <= sym_tol:
                sym_segs.append([xy[i], xy[j]])
                sym_w.append(max_width * 0.5 * (m[i, j] + m[j, i]) / vmax)
                continue
            for s, d in ((i, j), (j, i)):
                if keep[s, d]:
                    arrows.append((s, d, max_width * m[s, d] / vmax))
    lc = LineCollection(sym_segs, linewidths=sym_w or 1.0, colors="0.45", alpha=0.8, zorder=1,
                        label=_SYM_LABEL)
    ax.add_collection(lc)
    for s, d, w in arrows:
        p = FancyArrowPatch(tuple(xy[s]), tuple(xy[d]), arrowstyle="-|>", mutation_scale=8 + 2 * w,
                            connectionstyle="arc3,rad=0.15", linewidth=max(w, 0.3), color="tab:blue",
                            alpha=0.75, shrinkA=radius + 1, shrinkB=radius + 1, zorder=2)
        p.set_gid(_ARROW_GID)
        ax.add_patch(p)
    ax.scatter(xy[:, 0], xy[:, 1], s=node_size, c="white", edgecolors="k", linewidths=1.0, zorder=3,
               label="labels")
    for k in range(c):  # names above their node (most are wider than the marker), arrows stay visible
        ax.annotate(labels[k], xy[k], xytext=(0, radius + 1.5), textcoords="offset points", ha="center",
                    va="bottom", fontsize=8, zorder=4,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.75))
    if c:
        span = max(float(np.ptp(xy, axis=0).max()), 1e-3)
        lo, hi = xy.min(axis=0) - 0.12 * span, xy.max(axis=0) + 0.12 * span
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"label co-occurrence (P(j|i) >= {threshold:g})" if threshold else "label co-occurrence")
    if path is not None:
        save_figure(fig, path)
    return fig


def draw_attention(weights: Any, names: Optional[Sequence[str]] = None, ax=None, head: Optional[int] = None,
                   cmap: str = "magma", annotate: Optional[bool] = None, colorbar: bool = True,
                   col_names: Optional[Sequence[str]] = None, path: str | os.PathLike | None = None,
                   figsize: tuple[float, float] = (5.5, 5.0), vmin: Optional[float] = None,
                   vmax: Optional[float] = None):
    """Heatmap of attention weights ``[C, C]``, ``[heads, C, C]`` or ``[B, heads, C, C]``.

    Row ``i`` is the query (who attends), column ``j`` the key. With
    ``head=None`` heads (and the batch) are averaged; with ``head=k`` head
    ``k`` is shown (averaged over the batch). Rectangular ``[Q, K]`` maps are
    allowed (``col_names`` labels the columns). Values are annotated when the
    map is at most 12x12 (or ``annotate=True``), in black or white depending
    on the cell's colour. ``vmin``/``vmax`` fix the colour scale (to compare
    two maps). Returns the figure.
    """
    w = _np(weights).astype(np.float64)
    if w.ndim < 2 or w.ndim > 4:
        raise GraphclsError(f"attention weights must be [C, C], [heads, C, C] or [B, heads, C, C], "
                            f"got shape {tuple(w.shape)}")
    if w.ndim == 4:
        w = w.mean(axis=0)
    if w.ndim == 3:
        if head is None:
            w = w.mean(axis=0)
            what = f"mean of {_np(weights).shape[-3]} heads"
        else:
            if not -w.shape[0] <= head < w.shape[0]:
                raise GraphclsError(f"head {head} out of range: weights have {w.shape[0]} heads")
            w = w[head]
            what = f"head {head}"
    else:
        if head not in (None, 0):
            raise GraphclsError(f"head {head} given but weights have no head dimension (shape {tuple(w.shape)})")
        what = "attention"
    q, k = w.shape
    rows = _names(names, None, q) if names is not None else [str(i) for i in range(q)]
    if col_names is not None:
        cols = _names(col_names, None, k)
    elif names is not None and k == q:
        cols = rows
    else:
        cols = [str(i) for i in range(k)]

    if ax is None:
        fig, ax = new_figure(1, 1, figsize=figsize)
    else:
        fig = ax.figure
    im = ax.imshow(w, cmap=cmap, interpolation="nearest", aspect="auto", vmin=vmin, vmax=vmax)
    im.set_label("attention")
    if max(q, k) <= 40:
        ax.set_xticks(range(k))
        ax.set_xticklabels(cols, rotation=90, fontsize=7)
        ax.set_yticks(range(q))
        ax.set_yticklabels(rows, fontsize=7)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.set_title(what)
    if annotate is None:
        annotate = max(q, k) <= 12
    if annotate:
        # text colour from the cell's luminance, whatever the colormap's direction
        rgba = im.cmap(im.norm(np.nan_to_num(w)))
        lum = rgba[..., 0] * 0.299 + rgba[..., 1] * 0.587 + rgba[..., 2] * 0.114
        for i in range(q):
            for j in range(k):
                ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if lum[i, j] > 0.5 else "white")
    if colorbar:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if path is not None:
        save_figure(fig, path)
    return fig
