"""Drawing image graphs (superpixel, pixel-grid, patch) over their images.

Layout conventions: ``pos[:, 0]`` is the column (x, to the right) and
``pos[:, 1]`` the row (y, downward), in pixel units with pixel (0, 0)'s centre
at (0, 0). Images are drawn with ``origin='upper'`` and extent
``(-0.5, W - 0.5, H - 0.5, -0.5)``, so pixel centres fall on integer
coordinates and the nodes land on the pixels they came from.

Nodes are one ``scatter`` (a PathCollection), edges one ``LineCollection`` with
one segment per column of ``edge_index``: a 224x224 pixel grid (50k nodes,
400k edges) draws in a few seconds. Conversion to networkx and file export live in :mod:`pyg_graphcls.viz.export`.
"""
from __future__ import annotations

import math
import os
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..errors import GraphclsError
from .curves import new_figure, save_figure

__all__ = ["draw_graph", "draw_misclassified", "image_array", "seg_boundaries", "seg_boundary_segments"]

_COLOUR_KEYWORDS = {"rgb", "degree", "x", "intensity", "index"}
_BOUNDARY_LABEL = "seg_boundaries"
_IMAGE_LABEL = "image"
_NODES_LABEL = "nodes"
_EDGES_LABEL = "edges"


# ---------------------------------------------------------------------------
# small converters
# ---------------------------------------------------------------------------

def _np(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu()
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.float()
        return t.numpy()
    return np.asarray(t)


def image_array(img: Any) -> np.ndarray:
    """An image as ``[H, W]`` (gray) or ``[H, W, 3|4]`` float array in [0, 1].

    Accepts tensors in the toolkit layout ``[1, C, H, W]`` / ``[C, H, W]`` /
    ``[H, W]``, numpy arrays ``[H, W, C]`` / ``[C, H, W]`` / ``[H, W]`` and
    PIL images. uint8 data (or floats above 1) are divided by 255.
    """
    is_tensor = isinstance(img, torch.Tensor)
    arr = _np(img)
    if arr.dtype == object:
        raise GraphclsError("image: expected a numeric array or tensor")
    while arr.ndim > 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3:
        first, last = arr.shape[0] in (1, 3, 4), arr.shape[-1] in (1, 3, 4)
        if (is_tensor and first) or (first and not last):
            arr = np.moveaxis(arr, 0, -1)
        if arr.shape[-1] == 1:
            arr = arr[..., 0]
        elif arr.shape[-1] == 2 or arr.shape[-1] > 4:
            arr = arr[..., 0]  # unknown channel layout: show the first channel
    if arr.ndim != 2 and arr.ndim != 3:
        raise GraphclsError(f"image: expected [H, W], [C, H, W] or [1, C, H, W], got shape {tuple(arr.shape)}")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    else:
        arr = arr.astype(np.float32)
        finite = arr[np.isfinite(arr)]
        if finite.size and finite.max() > 1.0 + 1e-6:
            arr = arr / (255.0 if finite.max() <= 255.0 else finite.max())
        arr = np.nan_to_num(arr, nan=0.0)
    return np.clip(arr, 0.0, 1.0)


def _seg_array(seg: Any) -> np.ndarray:
    arr = _np(seg)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise GraphclsError(f"seg: expected [1, H, W] or [H, W] node ids, got shape {tuple(_np(seg).shape)}")
    return arr.astype(np.int64)


def seg_boundaries(seg: Any, mode: str = "inner") -> np.ndarray:
    """Boolean ``[H, W]`` mask of superpixel boundary pixels of ``seg``.

    Node ids start at 0, which scikit-image's ``'inner'``/``'outer'`` modes
    treat as background, so labels are shifted by one first.
    """
    from skimage.segmentation import find_boundaries

    arr = _seg_array(seg)
    return find_boundaries(arr - arr.min() + 1, mode=mode)


def seg_boundary_segments(seg: Any) -> np.ndarray:
    """Unit segments ``[K, 2, 2]`` along the pixel edges between differently labelled pixels.

    In the drawing convention (pixel centres at integers, ``(x, y)`` =
    ``(column, row)``), pixels ``(r, c)`` and ``(r, c + 1)`` with different ids
    give the vertical segment ``x = c + 0.5, y = r - 0.5 .. r + 0.5``; pixels
    ``(r, c)`` and ``(r + 1, c)`` the horizontal one ``y = r + 0.5``. ``K`` is
    the number of 4-neighbour pixel pairs whose ids differ.
    """
    arr = _seg_array(seg)
    r, c = np.nonzero(arr[:, 1:] != arr[:, :-1])
    x = c + 0.5
    vert = np.stack([np.stack([x, r - 0.5], 1), np.stack([x, r + 0.5], 1)], 1)
    r, c = np.nonzero(arr[1:, :] != arr[:-1, :])
    y = r + 0.5
    horiz = np.stack([np.stack([c - 0.5, y], 1), np.stack([c + 0.5, y], 1)], 1)
    return np.concatenate([vert, horiz]).astype(np.float64).reshape(-1, 2, 2)


def _pick_graph(data: Any, index: int):
    """The graph to draw: ``data`` itself, graph ``index`` of a Batch, or item of a list."""
    from torch_geometric.data import Batch, Data

    if isinstance(data, Batch) or (hasattr(data, "get_example") and hasattr(data, "num_graphs")
                                   and getattr(data, "batch", None) is not None):
        n = int(data.num_graphs)
        if not -n <= index < n:
            raise GraphclsError(f"index {index} out of range for a batch of {n} graphs")
        return data.get_example(index % n)
    if isinstance(data, Data) or hasattr(data, "edge_index") or hasattr(data, "pos"):
        return data
    if isinstance(data, (list, tuple)) or hasattr(data, "__getitem__"):
        try:
            n = len(data)
        except TypeError:
            n = None
        if n is not None and not -n <= index < n:
            raise GraphclsError(f"index {index} out of range for {n} graphs")
        return data[index]
    raise GraphclsError(f"draw_graph: expected a torch_geometric Data or Batch, got {type(data).__name__}")


def _get(data: Any, key: str) -> Any:
    try:
        return getattr(data, key, None)
    except (AttributeError, KeyError):
        return None


def _graph_arrays(data: Any) -> tuple[np.ndarray, np.ndarray]:
    pos = _get(data, "pos")
    if pos is None:
        raise GraphclsError("graph has no 'pos' (node positions [N, 2] in pixel units): cannot draw it")
    pos = _np(pos).astype(np.float64)
    if pos.ndim != 2 or pos.shape[1] < 2:
        raise GraphclsError(f"graph 'pos' must be [N, 2], got shape {tuple(pos.shape)}")
    pos = pos[:, :2]
    ei = _get(data, "edge_index")
    if ei is None:
        ei = np.zeros((2, 0), dtype=np.int64)
    else:
        ei = _np(ei).astype(np.int64)
        if ei.ndim != 2 or ei.shape[0] != 2:
            raise GraphclsError(f"graph 'edge_index' must be [2, E], got shape {tuple(ei.shape)}")
    if ei.size and (ei.min() < 0 or ei.max() >= pos.shape[0]):
        raise GraphclsError(f"graph 'edge_index' refers to node {int(ei.max())} but 'pos' has only "
                            f"{pos.shape[0]} nodes")
    return pos, ei


def _edge_weights(data: Any, num_edges: int) -> Optional[np.ndarray]:
    for key in ("edge_weight", "edge_attr"):
        w = _get(data, key)
        if w is None:
            continue
        w = _np(w).astype(np.float64)
        if w.ndim == 2:
            if w.shape[1] == 0:
                continue
            w = w[:, 0]
        if w.ndim != 1 or w.shape[0] != num_edges:
            continue
        return w
    return None


def _normalise(v: np.ndarray, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    finite = np.isfinite(v)
    out = np.full(v.shape, hi, dtype=np.float64)
    if not finite.any():
        return out
    vmin, vmax = v[finite].min(), v[finite].max()
    if vmax - vmin < 1e-12:
        out[finite] = hi
    else:
        out[finite] = lo + (hi - lo) * (v[finite] - vmin) / (vmax - vmin)
    return out


def _rgb_from(values: np.ndarray) -> np.ndarray:
    v = np.nan_to_num(values.astype(np.float64))
    if v.size and (v.min() < 0.0 or v.max() > 1.0):
        v = v / 255.0 if (v.min() >= 0.0 and v.max() <= 255.0) else _normalise(v.ravel()).reshape(v.shape)
    return np.clip(v, 0.0, 1.0)


def _node_colours(data: Any, n: int, node_color: Any, image: Optional[np.ndarray], ei: np.ndarray):
    """``(colours, is_scalar)``: scalars go through the colormap, else RGB(A) rows or a colour."""
    x = _get(data, "x")
    x = _np(x).astype(np.float64) if x is not None else None
    if x is not None and x.ndim == 1:
        x = x[:, None]
    if x is not None and (x.ndim != 2 or x.shape[0] != n):
        x = None

    if node_color is None:
        if x is None or x.shape[1] == 0:
            return "tab:orange", False
        # x's first three columns are a colour only for a colour image: a grayscale
        # superpixel graph has x = [intensity, centroid_x, centroid_y], also 3 columns
        if image is not None and image.ndim == 3 and image.shape[-1] >= 3 and x.shape[1] >= 3:
            return _rgb_from(x[:, :3]), False
        return x[:, 0], True
    if isinstance(node_color, str):
        key = node_color.lower()
        if key == "rgb":
            if x is None or x.shape[1] < 3:
                raise GraphclsError("node_color='rgb' needs x with at least 3 columns (mean colour)")
            return _rgb_from(x[:, :3]), False
        if key in ("x", "intensity"):
            if x is None:
                raise GraphclsError(f"node_color={node_color!r} needs node features 'x'")
            return x[:, 0], True
        if key == "degree":
            return np.bincount(ei[1], minlength=n).astype(np.float64) if ei.size else np.zeros(n), True
        if key == "index":
            return np.arange(n, dtype=np.float64), True
        return node_color, False  # a matplotlib colour name
    if isinstance(node_color, (int, np.integer)) and not isinstance(node_color, bool):
        if x is None or not -x.shape[1] <= node_color < x.shape[1]:
            raise GraphclsError(f"node_color={node_color}: x has no such column")
        return x[:, int(node_color)], True
    if isinstance(node_color, tuple) and len(node_color) in (3, 4) and all(
            isinstance(c, (int, float)) for c in node_color):
        return node_color, False
    arr = _np(node_color).astype(np.float64)
    if arr.ndim == 1 and arr.shape[0] == n:
        return arr, True
    if arr.ndim == 2 and arr.shape[0] == n and arr.shape[1] in (3, 4):
        return _rgb_from(arr), False
    if arr.ndim == 2 and arr.shape[0] == n and arr.shape[1] == 1:
        return arr[:, 0], True
    raise GraphclsError(f"node_color: expected a colour, a keyword {sorted(_COLOUR_KEYWORDS)}, "
                        f"a column index, or values for {n} nodes; got shape {tuple(arr.shape)}")


def _axes_width_points(ax) -> float:
    fig = ax.figure
    try:
        w_in = ax.get_position().width * fig.get_figwidth()
    except Exception:  # pragma: no cover
        w_in = 4.0
    return max(w_in * 72.0, 36.0)


# ---------------------------------------------------------------------------
# draw_graph
# ---------------------------------------------------------------------------

def draw_graph(data: Any, image: Any = None, ax=None, index: int = 0, node_color: Any = None,
               edge_alpha_by_weight: bool = True, show_seg: bool = True,
               node_size: Optional[float] = None, cmap: str = "viridis",
               edge_color: Any = "#00d5ff", edge_width: Optional[float] = None,
               edge_width_by_weight: bool = False, edge_alpha: float = 0.8,
               show_image: bool = True, boundary_color: Any = (1.0, 0.85, 0.0, 0.55),
               boundary_width: Optional[float] = None,
               show_nodes: bool = True, show_edges: bool = True, colorbar: bool = False,
               title: Optional[str] = None, path: str | os.PathLike | None = None,
               figsize: tuple[float, float] = (5.0, 5.0), dpi: float = 100,
               max_segments: int = 50_000):
    """Draw a graph's nodes at ``pos`` and its edges as segments, over its image.

    * ``data``: a ``Data`` with ``pos`` ([N, 2] pixel units, (column, row)),
      ``edge_index`` and optionally ``x``, ``edge_weight``/``edge_attr``,
      ``seg`` ([1, H, W] node id per pixel) and ``img`` ([1, C, H, W] in
      [0, 1]); or a ``Batch`` / list of graphs (graph ``index`` is drawn).
    * ``image``: drawn underneath (default ``data.img`` when present).
    * ``node_color``: None (when the image -- ``image`` or ``data.img`` -- has
      3 channels, x's first three columns as RGB; otherwise x[:, 0] through
      ``cmap``: a grayscale superpixel graph's x = [intensity, centroid_x,
      centroid_y] is not a colour), a matplotlib colour, ``'rgb'``,
      ``'degree'``, ``'index'``, a column index of x, or per-node values /
      RGB rows.
    * edges: one ``LineCollection`` with one segment per ``edge_index``
      column; with ``edge_alpha_by_weight`` the alpha (and with
      ``edge_width_by_weight`` the width) follows ``edge_weight`` or
      ``edge_attr[:, 0]``.
      Above ``max_segments`` edges they are grouped into a few NaN-separated
      polylines (16 weight levels) in that one collection, which is ~20x faster.
    * ``show_seg``: superpixel boundaries of ``data.seg`` as thin
      semi-transparent lines along the pixel edges between differently
      labelled neighbours (one ``LineCollection`` labelled
      ``'seg_boundaries'``, unit segments from :func:`seg_boundary_segments`;
      ``boundary_color``, ``boundary_width`` in points).

    Returns the figure (saved as PNG and closed when ``path`` is given).
    """
    from matplotlib.collections import LineCollection

    g = _pick_graph(data, index)
    pos, ei = _graph_arrays(g)
    n, e = pos.shape[0], ei.shape[1]

    if ax is None:
        fig, ax = new_figure(1, 1, figsize=figsize, dpi=dpi)
    else:
        fig = ax.figure

    img = image if image is not None else _get(g, "img")
    img_arr = image_array(img) if img is not None else None
    seg = _get(g, "seg") if show_seg else None
    seg_arr = _seg_array(seg) if seg is not None else None
    big = n > 5000 or e > 20000

    # extent in pixel units (pixel centres at integers)
    if img_arr is not None:
        h, w = img_arr.shape[:2]
    elif seg_arr is not None:
        h, w = seg_arr.shape
    else:
        h = w = None

    if img_arr is not None and show_image:
        kw = {"cmap": "gray", "vmin": 0.0, "vmax": 1.0} if img_arr.ndim == 2 else {}
        im = ax.imshow(img_arr, origin="upper", extent=(-0.5, img_arr.shape[1] - 0.5,
                                                        img_arr.shape[0] - 0.5, -0.5),
                       interpolation="nearest", zorder=0, **kw)
        im.set_label(_IMAGE_LABEL)
    spacing_pts = _axes_width_points(ax) / max(math.sqrt(max(n, 1)), 1.0)
    if seg_arr is not None:
        # thin lines along the pixel edges where two superpixels meet
        bsegs = seg_boundary_segments(seg_arr)
        k = len(bsegs)
        pixel_pts = _axes_width_points(ax) / max(seg_arr.shape[1], 1)
        bwidth = float(np.clip(0.12 * pixel_pts, 0.35, 1.2)) if boundary_width is None else float(boundary_width)
        if k > max_segments:  # one NaN-separated polyline: a Path per unit segment is slow
            v = np.full((k, 3, 2), np.nan)
            v[:, :2] = bsegs
            bsegs = [v.reshape(-1, 2)[:-1]]
        blc = LineCollection(bsegs, colors=[boundary_color], linewidths=bwidth, capstyle="butt",
                             zorder=1, rasterized=k > 20000, label=_BOUNDARY_LABEL)
        blc.num_segments = k  # unit boundary segments drawn
        ax.add_collection(blc, autolim=False)
    if node_size is None:
        node_size = float(np.clip((0.45 * spacing_pts) ** 2, 0.3, 80.0))
    if edge_width is None:
        edge_width = float(np.clip(0.08 * spacing_pts, 0.15, 1.5))

    if show_edges:
        from matplotlib.colors import to_rgba

        base = np.array(to_rgba(edge_color, alpha=edge_alpha))
        wts = _edge_weights(g, e) if e else None
        scaled = _normalise(wts, 0.1, 1.0) if wts is not None else None
        if e <= max_segments:
            # one segment per edge_index column
            segs = np.stack([pos[ei[0]], pos[ei[1]]], axis=1) if e else np.zeros((0, 2, 2))
            colours = np.tile(base, (e, 1)) if e else np.zeros((0, 4))
            widths: Any = edge_width
            if scaled is not None:
                if edge_alpha_by_weight:
                    colours[:, 3] = edge_alpha * scaled
                if edge_width_by_weight:
                    widths = edge_width * (0.25 + 2.75 * scaled)
        else:
            # huge graphs: a Path per segment costs ~15 us each, so edges are grouped
            # into a few NaN-separated polylines (16 weight levels when weighted)
            levels = np.zeros(e, dtype=np.int64) if scaled is None else np.minimum(
                (scaled - 0.1) / 0.9 * 16, 15).astype(np.int64)
            segs, colours, widths = [], [], []
            for lv in np.unique(levels):
                sel = np.nonzero(levels == lv)[0]
                v = np.full((len(sel), 3, 2), np.nan)
                v[:, 0], v[:, 1] = pos[ei[0, sel]], pos[ei[1, sel]]
                segs.append(v.reshape(-1, 2)[:-1])
                frac = 0.1 + 0.9 * (lv + 0.5) / 16 if scaled is not None else 1.0
                c = base.copy()
                if scaled is not None and edge_alpha_by_weight:
                    c[3] = edge_alpha * frac
                colours.append(c)
                widths.append(edge_width * (0.25 + 2.75 * frac) if scaled is not None and edge_width_by_weight
                              else edge_width)
        lc = LineCollection(segs, colors=colours, linewidths=widths, zorder=2,
                            rasterized=big, label=_EDGES_LABEL)
        lc.num_edges = e  # edges drawn (segments may be grouped for huge graphs)
        ax.add_collection(lc, autolim=False)

    if show_nodes:
        colours, scalar = _node_colours(g, n, node_color, img_arr, ei)
        kw: dict[str, Any] = {}
        if scalar:
            kw["c"] = np.nan_to_num(np.asarray(colours, dtype=np.float64))
            kw["cmap"] = cmap
        elif isinstance(colours, np.ndarray):
            kw["c"] = colours
        else:
            kw["color"] = colours
        sc = ax.scatter(pos[:, 0], pos[:, 1], s=node_size, zorder=3, rasterized=big,
                        linewidths=0.3 if n <= 2000 else 0.0, edgecolors="k" if n <= 2000 else "face",
                        label=_NODES_LABEL, **kw)
        if colorbar and scalar:
            fig.colorbar(sc, ax=ax, fraction=0.046, pad=0.04)

    # limits: the image when known, else the nodes' bounding box; y points down
    if h is not None:
        x0, x1, y0, y1 = -0.5, w - 0.5, -0.5, h - 0.5
        if n:
            x0, x1 = min(x0, pos[:, 0].min() - 0.5), max(x1, pos[:, 0].max() + 0.5)
            y0, y1 = min(y0, pos[:, 1].min() - 0.5), max(y1, pos[:, 1].max() + 0.5)
    elif n:
        pad = max(1.0, 0.05 * float(np.ptp(pos, axis=0).max()))
        x0, x1 = pos[:, 0].min() - pad, pos[:, 0].max() + pad
        y0, y1 = pos[:, 1].min() - pad, pos[:, 1].max() + pad
    else:
        x0, x1, y0, y1 = -0.5, 0.5, -0.5, 0.5
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title)
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


# ---------------------------------------------------------------------------
# misclassified gallery
# ---------------------------------------------------------------------------

def _as_labels(v: Any, name: str, n: Optional[int] = None) -> np.ndarray:
    arr = _np(v)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim not in (1, 2):
        raise GraphclsError(f"{name}: expected class ids [N] or scores [N, C], got shape {tuple(arr.shape)}")
    if n is not None and arr.shape[0] != n:
        raise GraphclsError(f"{name}: has {arr.shape[0]} entries, expected {n}")
    return arr


def _name(c: int, class_names: Optional[Sequence[str]]) -> str:
    if class_names is not None and 0 <= c < len(class_names):
        return str(class_names[c])
    return str(c)


def draw_misclassified(dataset: Any, predictions: Any, targets: Any = None,
                       class_names: Optional[Sequence[str]] = None, max_items: int = 12,
                       ncols: Optional[int] = None, path: str | os.PathLike | None = None,
                       **draw_kw: Any):
    """A gallery of misclassified samples, each drawn with :func:`draw_graph`.

    ``predictions`` are class ids ``[N]`` or scores ``[N, C]`` (argmax taken);
    ``targets`` class ids ``[N]`` (default: each graph's ``y``). For
    multi-label targets ``[N, C]`` (0/1), scores are thresholded (at 0 for
    logits, 0.5 for probabilities) and a sample counts as wrong when any label
    differs. Titles read ``true: ... / pred: ...``. Returns the figure.
    """
    try:
        n = len(dataset)
    except TypeError as e:
        raise GraphclsError("draw_misclassified: dataset must support len() and indexing") from e
    preds = _as_labels(predictions, "predictions", n)
    if targets is None:
        ys = []
        for i in range(n):
            y = _get(dataset[i], "y")
            if y is None:
                raise GraphclsError(f"draw_misclassified: no targets given and graph {i} has no 'y'")
            ys.append(_np(y).reshape(-1))
        targets = np.stack(ys) if len({y.shape for y in ys}) == 1 else None
        if targets is None:
            raise GraphclsError("draw_misclassified: graphs' 'y' have different shapes; pass targets")
        if targets.ndim == 2 and targets.shape[1] == 1:
            targets = targets[:, 0]
    tgts = _as_labels(targets, "targets", n)

    multilabel = tgts.ndim == 2
    if multilabel:
        if preds.ndim != 2 or preds.shape != tgts.shape:
            raise GraphclsError(f"multi-label targets {tuple(tgts.shape)} need predictions of the same shape, "
                                f"got {tuple(preds.shape)}")
        p = preds.astype(np.float64)
        thr = 0.5 if (p.min() >= 0 and p.max() <= 1) else 0.0
        pred_sets = p > thr
        true_sets = tgts > 0.5
        wrong = np.nonzero((pred_sets != true_sets).any(axis=1))[0]
    else:
        pred_ids = preds.argmax(axis=1) if preds.ndim == 2 else preds.astype(np.int64)
        true_ids = tgts.astype(np.int64)
        wrong = np.nonzero(pred_ids != true_ids)[0]

    shown = wrong[: max(0, int(max_items))]
    k = len(shown)
    if ncols is None:
        ncols = min(4, max(k, 1))
    nrows = max(1, math.ceil(k / ncols))
    fig, axes = new_figure(nrows, ncols, figsize=(3.0 * ncols, 3.4 * nrows), squeeze=False)
    fig.set_layout_engine("constrained")
    flat = list(axes.flat)
    draw_kw.setdefault("dpi", fig.dpi)
    for a, i in zip(flat, shown):
        i = int(i)
        if multilabel:
            t = ",".join(_name(c, class_names) for c in np.nonzero(true_sets[i])[0]) or "-"
            pr = ",".join(_name(c, class_names) for c in np.nonzero(pred_sets[i])[0]) or "-"
        else:
            t, pr = _name(int(true_ids[i]), class_names), _name(int(pred_ids[i]), class_names)
        draw_graph(dataset[i], ax=a, **draw_kw)
        a.set_title(f"#{i} true: {t}\npred: {pr}", fontsize="small")
    for a in flat[k:]:
        a.axis("off")
    if k == 0:
        flat[0].text(0.5, 0.5, "no misclassified samples", ha="center", va="center",
                     transform=flat[0].transAxes)
    if path is not None:
        save_figure(fig, path)
    return fig
