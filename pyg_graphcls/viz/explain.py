"""Drawing an explanation: which superpixels drove a prediction, painted over the image."""
from __future__ import annotations

import os
from typing import Any, Optional

import numpy as np
import torch

from ..errors import GraphclsError
from .curves import new_figure, save_figure
from .graphs import _get, _np, _seg_array, draw_graph, image_array

__all__ = ["draw_explanation", "importance_map"]


def importance_map(data: Any, importance: Any, shape: Optional[tuple[int, int]] = None) -> np.ndarray:
    """``[H, W]``: each pixel takes the importance of its node.

    With ``data.seg`` (``[1, H, W]`` node id per pixel) every pixel of a region
    gets its region's value; otherwise each pixel takes the value of the node
    nearest to it by ``pos`` (a Voronoi painting), over ``shape`` or the
    image's size.
    """
    imp = _np(importance).astype(np.float64).reshape(-1)
    seg = _get(data, "seg")
    if seg is not None:
        s = _seg_array(seg)
        if s.max(initial=-1) >= imp.size or s.min(initial=0) < 0:
            raise GraphclsError(f"seg holds node ids up to {int(s.max())} but there are {imp.size} importances")
        return imp[s]
    pos = _get(data, "pos")
    if pos is None:
        raise GraphclsError("importance_map: the graph has neither seg nor pos")
    pos = _np(pos).astype(np.float64)[:, :2]
    if pos.shape[0] != imp.size:
        raise GraphclsError(f"{imp.size} importances for {pos.shape[0]} nodes")
    if shape is None:
        size = _get(data, "image_size")
        img = _get(data, "img")
        if size is not None:
            shape = tuple(int(v) for v in _np(size).reshape(-1)[:2])
        elif img is not None:
            shape = tuple(_np(img).shape[-2:])
        else:
            shape = (int(np.ceil(pos[:, 1].max())) + 1, int(np.ceil(pos[:, 0].max())) + 1)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    pix = np.stack([cols.ravel(), rows.ravel()], 1).astype(np.float64)
    from scipy.spatial import cKDTree

    _, nearest = cKDTree(pos).query(pix)
    return imp[nearest].reshape(shape)


def draw_explanation(data: Any, importance: Any, edge_importance: Any = None, image: Any = None,
                     title: Optional[str] = None, cmap: str = "inferno", alpha: float = 0.6,
                     path: str | os.PathLike | None = None, figsize: tuple[float, float] = (9.0, 4.5), dpi: float = 100):
    """Two panels: the graph over its image (edge width by ``edge_importance``), and the node importance painted
    over the image region by region (:func:`importance_map`).

    Args:
        data (Data): the explained graph (``pos``, ``edge_index``; ``seg`` and
            ``img`` when the conversion kept them).
        importance (Tensor or array): ``[N]`` node importance
            (:func:`pyg_graphcls.explain.node_importance`).
        edge_importance (Tensor or array, optional): ``[E]``.
        image (optional): drawn underneath (default ``data.img``).
        path (str, optional): write the PNG there (atomically).

    Returns the figure.
    """
    imp = _np(importance).astype(np.float64).reshape(-1)
    if not np.all(np.isfinite(imp)):
        raise GraphclsError("importance holds NaN or infinite values")
    img = image if image is not None else _get(data, "img")
    fig, (left, right) = new_figure(1, 2, figsize=figsize, dpi=dpi)
    g = data
    if edge_importance is not None:
        g = data.clone()
        ew = torch.as_tensor(_np(edge_importance), dtype=torch.float32).reshape(-1)
        g.edge_weight = ew / ew.max().clamp_min(1e-12)
    draw_graph(g, image=img, ax=left, node_color=torch.as_tensor(imp), cmap=cmap, show_image=img is not None,
               edge_width_by_weight=edge_importance is not None, title="graph, nodes by importance")
    heat = importance_map(data, imp, None if img is None else image_array(img).shape[:2])
    if img is not None:
        arr = image_array(img)
        right.imshow(arr if arr.ndim == 3 else arr, cmap=None if arr.ndim == 3 else "gray", vmin=0, vmax=1)
    span = heat.max() - heat.min()
    right.imshow((heat - heat.min()) / (span if span > 0 else 1.0), cmap=cmap, alpha=alpha if img is not None else 1.0,
                 vmin=0, vmax=1)
    right.set_title("importance per region")
    right.set_axis_off()
    if title:
        fig.suptitle(title)
    if path is not None:
        save_figure(fig, path)
    return fig
