"""Superpixel graphs: SLIC regions as nodes (scikit-image), kNN or adjacency edges.

Node positions ``pos`` are region centroids (``node_pos="interior"``: each region's
pixel nearest its centroid) in **pixel units**, ``(column, row)``
= ``(x, y)`` with pixel (0, 0)'s centre at (0, 0) and y pointing down — the
layout of PyG's ``ToSLIC`` and ``MNISTSuperpixels`` — so a model trained on our
graphs reads theirs and :func:`pyg_graphcls.viz.draw_graph` draws both over the
image.

Default compactness: scikit-image's default ``compactness=10`` assumes Lab
colour (0-100). For a grayscale image in [0, 1] it makes the spatial term win
and returns a regular grid (81 square cells for ``n_segments=75`` on 28x28,
whatever the digit). We use 10 for colour images (SLIC works in Lab) and 0.1
for single-channel ones, where regions then follow the strokes.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from ..errors import GraphclsError
from ._common import ImageTransform, finish_graph
from .edges import knn_graph, region_adjacency
from .image import as_image

__all__ = ["superpixel_graph", "SuperpixelGraph", "slic_segments", "segment_features",
           "graph_from_segments", "feature_names", "shape_features", "quadrant_weights", "quadrant_features",
           "occupancy_weights", "NODE_FEATURES", "default_compactness", "interior_points", "POSITIONS"]

NODE_FEATURES = ("mean", "std", "centroid", "area", "bbox", "moments", "gradient", "quadrants", "occupancy")
#: ridge (px²) of the per-segment intensity-slope fit: a segment one pixel wide gets slope 0 across it
GRADIENT_RIDGE = 0.25
#: pseudo-count (pixels at the region mean) each quadrant mean is shrunk with: an empty quadrant reads 0
QUADRANT_PRIOR = 0.5
#: the quadrants around a region's centroid, in column order (image rows grow downwards: "t" is y < cy)
QUADRANTS = ("tl", "tr", "bl", "br")
#: the ``occupancy`` feature splits each region's bounding box into OCCUPANCY_CELLS x OCCUPANCY_CELLS cells
OCCUPANCY_CELLS = 3


def default_compactness(channels: int) -> float:
    return 10.0 if channels >= 3 else 0.1


def feature_names(features: Sequence[str], channels: int) -> list[str]:
    """Column names of ``x`` for the given feature set and channel count."""
    names: list[str] = []
    for f in features:
        if f == "mean":
            names += [f"mean_{c}" for c in range(channels)]
        elif f == "std":
            names += [f"std_{c}" for c in range(channels)]
        elif f == "centroid":
            names += ["centroid_x", "centroid_y"]
        elif f == "area":
            names += ["area"]
        elif f == "bbox":
            names += ["bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1"]
        elif f == "moments":
            names += ["moment_sx", "moment_sy", "moment_rho"]
        elif f == "gradient":
            names += [f"grad_x_{c}" for c in range(channels)] + [f"grad_y_{c}" for c in range(channels)]
        elif f == "quadrants":
            names += [f"quad_{q}_{c}" for q in QUADRANTS for c in range(channels)]
        elif f == "occupancy":
            names += [f"occ_{r}{c}" for r in range(OCCUPANCY_CELLS) for c in range(OCCUPANCY_CELLS)]
    return names


def correlation(cov_xy: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    """``cov_xy / (sx sy)`` clamped to [-1, 1]; 0 where a standard deviation is 0 (a pixel, an axis-aligned line)."""
    prod = sx * sy
    return torch.where(prod > 1e-9, cov_xy / prod.clamp(min=1e-9), torch.zeros_like(prod)).clamp(-1, 1)


def shape_features(kind: str, cnt, cx, cy, sxx, syy, sxy, mean=None, sxc=None, syc=None) -> torch.Tensor:
    r"""``moments`` or ``gradient`` columns from per-segment sums (float64 tensors, one row per segment).

    ``cnt``: pixels; ``cx, cy``: centroid; ``sxx, syy, sxy``: sums of
    :math:`x^2, y^2, xy` over the pixels; ``mean [n, C]``: mean value per
    channel; ``sxc, syc [n, C]``: sums of :math:`x v_c` and :math:`y v_c`.

    - ``moments``: the shape of the region, scale-free: :math:`\sigma_x/\sqrt{n}`,
      :math:`\sigma_y/\sqrt{n}` (standard deviations of the pixel positions over
      the square root of the pixel count: 0.29 for a square, more for an elongated
      region) and the correlation :math:`
ho` of x and y (its orientation; 0 for a
      single pixel or a line along an axis).
    - ``gradient``: per channel, the least-squares slope :math:`(g_x, g_y)` of the
      value over the region's pixels, solved from the 2x2 position covariance
      plus ``GRADIENT_RIDGE`` on the diagonal, times :math:`\sqrt{n}` (so it is
      the value change across the region, of the order of the values): the
      direction in which the region gets brighter — the edge information mean
      and std leave out.
    """
    n = cnt.clamp(min=1)
    vxx = (sxx / n - cx * cx).clamp(min=0)
    vyy = (syy / n - cy * cy).clamp(min=0)
    vxy = sxy / n - cx * cy
    if kind == "moments":
        sx, sy = vxx.sqrt(), vyy.sqrt()
        return torch.stack([sx / n.sqrt(), sy / n.sqrt(), correlation(vxy, sx, sy)], 1)
    if kind != "gradient":
        raise GraphclsError(f"shape feature must be 'moments' or 'gradient', got {kind!r}")
    bx = sxc / n[:, None] - mean * cx[:, None]  # covariance of each channel with x
    by = syc / n[:, None] - mean * cy[:, None]
    a, b, d = (vxx + GRADIENT_RIDGE)[:, None], vxy[:, None], (vyy + GRADIENT_RIDGE)[:, None]
    det = a * d - b * b
    side = n.sqrt()[:, None]  # the slope times the region's typical side: the value change across it
    return torch.cat([(d * bx - b * by) / det * side, (a * by - b * bx) / det * side], 1)


def quadrant_weights(dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """``[P, 4]`` share of each pixel in the quadrants (tl, tr, bl, br) around its region's centroid.

    ``dx, dy``: pixel position minus the centroid. A pixel is a unit square, so
    one the centroid cuts is shared by area (``clamp(dx + 0.5, 0, 1)`` of it lies
    right of the centroid): the split is exactly mirrored by a flip of the image,
    which a hard ``dx > 0`` would not be for pixels on the centroid's column.
    """
    rx = (dx + 0.5).clamp(0, 1)
    ry = (dy + 0.5).clamp(0, 1)
    lx, ty = 1 - rx, 1 - ry
    return torch.stack([lx * ty, rx * ty, lx * ry, rx * ry], 1)


def quadrant_features(wsum: torch.Tensor, vsum: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    r"""``quadrants`` columns: per quadrant q (tl, tr, bl, br) and channel c, how far the
    quadrant's mean value lies from the region's mean:
    :math:`(\sum_q v_c - w_q \bar v_c) / (w_q + \text{QUADRANT\_PRIOR})`.

    ``wsum [n, 4]``: pixels (share-weighted, :func:`quadrant_weights`) per
    quadrant; ``vsum [n, 4, C]``: the weighted value sums; ``mean [n, C]``. The
    pseudo-count shrinks a quadrant of a pixel or less towards the region mean
    (0), so thin regions do not get noisy columns. Mean, std and the linear
    ``gradient`` describe a region as flat or a ramp; these four numbers per
    channel keep a coarse 2x2 picture of it (a stripe, a corner, a dark centre
    line shows up in them), the texture a 75-node graph otherwise loses.
    """
    dev = vsum - wsum[:, :, None] * mean[:, None, :]
    return (dev / (wsum[:, :, None] + QUADRANT_PRIOR)).reshape(vsum.size(0), -1)


def _cell_overlap(offset: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
    """``[P, OCCUPANCY_CELLS]``: how much of each cell (in cell widths) a unit pixel at ``offset``
    pixels from the start of a box ``side`` pixels long covers, the box cut into equal cells."""
    scale = OCCUPANCY_CELLS / side
    lo, hi = offset * scale, (offset + 1) * scale  # the pixel's extent in cell units
    cell = torch.arange(OCCUPANCY_CELLS, dtype=offset.dtype, device=offset.device)
    return (torch.minimum(hi[:, None], cell + 1) - torch.maximum(lo[:, None], cell)).clamp(min=0)


def occupancy_weights(dx: torch.Tensor, dy: torch.Tensor, width: torch.Tensor, height: torch.Tensor) -> torch.Tensor:
    r"""``[P, OCCUPANCY_CELLS**2]`` share of each pixel in the cells of its region's bounding box.

    ``dx, dy``: the pixel's column and row minus its region's ``bbox`` x0, y0;
    ``width, height``: that box's size in pixels (``x1 - x0 + 1``). Summed over a
    region's pixels this is the ``occupancy`` feature: per cell (row-major,
    ``occ_{row}{col}``) the fraction of the cell the region covers, 1 for a
    region that fills its box. Pixels are unit squares split by area between
    cells, so a box of any size (1 pixel too) has well-defined cells and a flip
    of the image mirrors the columns exactly. Mean, moments and bbox describe a
    region as an ellipse in a box; these 9 numbers keep a coarse mask of it
    (an L, a diagonal stroke, a ring), the region shape that painting the regions
    back shows a CNN gains from (``benchmarks/superpixel_controls.py``).
    """
    ox, oy = _cell_overlap(dx, width), _cell_overlap(dy, height)
    return (oy[:, :, None] * ox[:, None, :]).reshape(dx.size(0), -1)


def _check_features(features: Sequence[str]) -> tuple[str, ...]:
    if isinstance(features, str):
        features = (features,)
    features = tuple(features)
    bad = [f for f in features if f not in NODE_FEATURES]
    if bad or not features:
        raise GraphclsError(f"node features must be a non-empty subset of {NODE_FEATURES}, got {features}")
    return features


def slic_segments(img: np.ndarray, n_segments: int, compactness: Optional[float] = None,
                  **slic_kwargs: Any) -> np.ndarray:
    """SLIC labels ``[H, W]`` (int64, consecutive from 0) for an ``[H, W, C]`` image in [0, 1]."""
    from skimage.segmentation import slic

    h, w, c = img.shape
    n_segments = int(max(1, min(n_segments, h * w)))
    if compactness is None:
        compactness = default_compactness(c)
    if c == 1:
        seg = slic(img[..., 0], n_segments=n_segments, compactness=compactness,
                   channel_axis=None, start_label=0, **slic_kwargs)
    else:
        seg = slic(img, n_segments=n_segments, compactness=compactness, channel_axis=-1,
                   start_label=0, convert2lab=(c == 3), **slic_kwargs)
    # SLIC's connectivity step can leave gaps in the label range: make them 0..n-1
    uniq, inv = np.unique(seg, return_inverse=True)
    if uniq.size != seg.max() + 1:
        seg = inv.reshape(seg.shape)
    return seg.astype(np.int64, copy=False)


def segment_features(img: np.ndarray, seg: np.ndarray, features: Sequence[str] = ("mean", "centroid")):
    """Per-segment node features and centroids.

    Returns ``(x [n, F] float32, pos [n, 2] float32)``. ``x`` columns follow
    ``features`` in order (see :func:`feature_names`): per-channel mean and std
    of the pixel values, centroid divided by the image width/height (in [0, 1]),
    area as a fraction of the image, bounding box (x0, y0, x1, y1) divided by the
    image width/height. ``pos`` is the centroid in pixels.
    """
    features = _check_features(features)
    h, w, c = img.shape
    lab = seg.ravel()
    n = int(lab.max()) + 1
    cnt = np.bincount(lab, minlength=n).astype(np.float64)
    safe = np.maximum(cnt, 1)
    flat = img.reshape(-1, c).astype(np.float64)
    rows, cols = np.divmod(np.arange(h * w), w)
    cx = np.bincount(lab, weights=cols, minlength=n) / safe
    cy = np.bincount(lab, weights=rows, minlength=n) / safe
    pos = np.stack([cx, cy], 1)

    def chan_sums(v: np.ndarray) -> np.ndarray:  # per-segment sums of each column of v [h*w, c]
        return np.stack([np.bincount(lab, weights=v[:, i], minlength=n) for i in range(v.shape[1])], 1)

    def t(v: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64))

    def bbox_px() -> list[np.ndarray]:  # per-segment x0, y0, x1, y1 in pixels (inclusive)
        x0 = np.full(n, w, np.int64); y0 = np.full(n, h, np.int64)
        x1 = np.zeros(n, np.int64); y1 = np.zeros(n, np.int64)
        np.minimum.at(x0, lab, cols); np.minimum.at(y0, lab, rows)
        np.maximum.at(x1, lab, cols); np.maximum.at(y1, lab, rows)
        return [x0, y0, x1, y1]

    parts = []
    mean = pos2 = None
    for f in features:
        if f in ("mean", "std", "gradient", "quadrants") and mean is None:
            mean = chan_sums(flat) / safe[:, None]
        if f == "mean":
            parts.append(mean)
        elif f == "std":
            sq = chan_sums(flat ** 2) / safe[:, None]
            parts.append(np.sqrt(np.maximum(sq - mean ** 2, 0.0)))
        elif f == "centroid":
            parts.append(pos / np.array([max(w - 1, 1), max(h - 1, 1)]))
        elif f == "area":
            parts.append((cnt / (h * w))[:, None])
        elif f == "bbox":
            parts.append(np.stack(bbox_px(), 1) / np.array([max(w - 1, 1), max(h - 1, 1)] * 2))
        elif f in ("moments", "gradient"):
            if pos2 is None:  # sums of x², y², xy: both shape features read them
                pos2 = [t(np.bincount(lab, weights=v, minlength=n)) for v in (cols * cols, rows * rows, cols * rows)]
            extra = {}
            if f == "gradient":
                extra = {"mean": t(mean), "sxc": t(chan_sums(flat * cols[:, None])),
                         "syc": t(chan_sums(flat * rows[:, None]))}
            parts.append(shape_features(f, t(cnt), t(cx), t(cy), *pos2, **extra).numpy())
        elif f == "occupancy":
            x0, y0, x1, y1 = bbox_px()
            w9 = occupancy_weights(t(cols - x0[lab]), t(rows - y0[lab]), t(x1 - x0 + 1)[lab], t(y1 - y0 + 1)[lab])
            parts.append(chan_sums(w9.numpy()))
        elif f == "quadrants":
            w4 = quadrant_weights(t(cols - cx[lab]), t(rows - cy[lab])).numpy()
            wsum = chan_sums(w4)
            vsum = np.stack([chan_sums(flat * w4[:, q:q + 1]) for q in range(4)], 1)
            parts.append(quadrant_features(t(wsum), t(vsum), t(mean)).numpy())
    x = np.concatenate(parts, 1).astype(np.float32)
    return x, pos.astype(np.float32)


def interior_points(seg: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """``[n, 2]`` float32 (x, y): for each region of ``seg [H, W]`` (labels 0..n-1), its pixel
    nearest to its centroid (``centroids [n, 2]``, pixels); ties go to the first pixel in row-major
    order. A point inside the region even where the centroid is not (a ring, a background that
    surrounds the object, a C-shaped stroke)."""
    h, w = seg.shape
    lab = seg.ravel().astype(np.int64)
    n = int(centroids.shape[0])
    if lab.size == 0 or lab.min() < 0 or lab.max() >= n or np.bincount(lab, minlength=n).min() == 0:
        raise GraphclsError(f"interior_points needs labels 0..{n - 1}, each used at least once")
    rows, cols = np.divmod(np.arange(h * w), w)
    d = (cols - centroids[lab, 0]) ** 2 + (rows - centroids[lab, 1]) ** 2
    order = np.lexsort((np.arange(h * w), d, lab))          # by label, then distance, then pixel index
    first = order[np.searchsorted(lab[order], np.arange(n))]
    return np.stack([cols[first], rows[first]], 1).astype(np.float32)


POSITIONS = ("centroid", "interior")


def graph_from_segments(img: np.ndarray, seg: np.ndarray, *, features: Sequence[str] = ("mean", "centroid"),
                        edges: str = "knn", k: int = 8, undirected: bool = False,
                        edge_attr: Sequence[str] = ("distance",), y: Any = None,
                        return_seg: bool = False, return_img: bool = False, node_pos: str = "centroid") -> Data:
    """Build the graph of a segmentation ``seg [H, W]`` of ``img [H, W, C]`` (``node_pos``: see
    :func:`superpixel_graph`)."""
    if node_pos not in POSITIONS:
        raise GraphclsError(f"node_pos must be one of {POSITIONS}, got {node_pos!r}")
    x, pos = segment_features(img, seg, features)
    if node_pos == "interior":
        pos = interior_points(seg, pos)
    x_t, pos_t = torch.from_numpy(x), torch.from_numpy(pos)
    if edges == "knn":
        edge_index = knn_graph(pos_t, k)
        if undirected:
            from torch_geometric.utils import to_undirected
            edge_index = to_undirected(edge_index, num_nodes=pos_t.size(0))
    elif edges == "rag":
        edge_index = region_adjacency(seg)
    elif edges == "none":
        edge_index = torch.empty(2, 0, dtype=torch.long)
    else:
        raise GraphclsError(f"edges must be 'knn', 'rag' or 'none', got {edges!r}")
    data = finish_graph(img, x_t, pos_t, edge_index, edge_attr=edge_attr, y=y, return_img=return_img)
    if return_seg:
        data.seg = torch.from_numpy(seg).view(1, *seg.shape)
    return data


def superpixel_graph(image: Any, n_segments: int = 75, *, compactness: Optional[float] = None,
                     features: Sequence[str] = ("mean", "centroid"), edges: str = "knn", k: int = 8,
                     undirected: bool = False, edge_attr: Sequence[str] = ("distance",), y: Any = None,
                     return_seg: bool = False, return_img: bool = False,
                     slic_kwargs: Optional[dict] = None, method: str = "skimage",
                     merge: Optional[str] = None, node_pos: str = "centroid") -> Data:
    r"""Convert one image to a graph of its SLIC superpixels.

    Args:
        image: ``[H, W]``, ``[H, W, C]`` or ``[C, H, W]``; uint8, uint16 or float
            in [0, 1] (numpy or torch). Any size.
        n_segments (int): approximate number of regions (SLIC may return a few
            more or fewer; capped at the number of pixels).
        compactness (float, optional): SLIC colour/space balance; ``None`` picks
            10 for colour and 0.1 for grayscale (see the module docstring).
        features: node features in ``x``, from ``"mean"`` (per channel),
            ``"std"`` (per channel), ``"centroid"`` (x/W, y/H), ``"area"``
            (fraction of pixels), ``"bbox"`` (x0, y0, x1, y1, normalised),
            ``"moments"`` (region shape), ``"gradient"`` (value slope per
            channel): see :func:`shape_features`, and ``"quadrants"`` (4 per
            channel: the region's 2x2 picture, :func:`quadrant_features`) and
            ``"occupancy"`` (9: the region's coarse mask in its bounding box,
            :func:`occupancy_weights`).
        edges (str): ``"knn"`` (each node receives edges from its ``k`` nearest
            centroids, like ``KNNGraph``), ``"rag"`` (regions that touch,
            8-connectivity, both directions) or ``"none"``.
        k (int): neighbours for ``"knn"`` (default 8).
        undirected (bool): add the reverse of every kNN edge.
        edge_attr: edge features from ``"distance"``, ``"gaussian"``
            (Benchmarking-GNNs' :math:`\exp(-(d/\sigma_i)^2)`), ``"cartesian"``;
            distances are divided by the larger image side. Empty: no ``edge_attr``.
        y: optional label stored in ``data.y``.
        return_seg (bool): keep the label map as ``data.seg [1, H, W]``.
        return_img (bool): keep the image as ``data.img [1, C, H, W]``.
        slic_kwargs (dict): extra arguments for ``skimage.segmentation.slic``.
        method (str): ``"skimage"`` (scikit-image's ``slic``) or ``"fast"``
            (the batched SLIC of :mod:`~pyg_graphcls.graphs.fast_slic`: kNN
            edges only; a data set converts whole chunks per call with it).
        merge (str, optional): ``"ward"``: instead of SLIC's own connectivity
            step (which absorbs small fragments into whichever neighbour it
            meets), split the SLIC labels into connected pieces and merge
            touching pieces by Ward's criterion down to ``n_segments`` regions
            (:func:`~pyg_graphcls.graphs.merge.ward_merge`): connected regions,
            ``n_segments`` of them when the image has that many pieces, and a
            far closer mean-colour picture (RMSE 7.8 vs 26.1 grey levels on
            28x28 Fashion-MNIST, 75 vs ~69 regions). ``None``: SLIC's step.
        node_pos (str): ``pos`` of each node, from which kNN edges, edge
            features and the models' geometry follow: ``"centroid"`` (the
            default, as PyG's ``ToSLIC``) or ``"interior"``: the region's pixel
            nearest its centroid (:func:`interior_points`), which lies inside
            the region where a centroid may not (on Ward-merged 28x28
            Fashion-MNIST the background region's centroid lies inside the
            object). The ``centroid`` feature columns stay the centroid.

    Returns:
        ``Data(x [n, F], pos [n, 2], edge_index [2, E], edge_attr [E, D], y, seg?, img?)``
    """
    img = as_image(image)
    if method == "fast":
        from .fast_slic import superpixel_graphs
        if edges != "knn" or undirected or return_seg or return_img or slic_kwargs or merge or node_pos != "centroid":
            raise GraphclsError("method='fast' builds directed kNN graphs only (no undirected/return_seg/"
                                "return_img/slic_kwargs/merge/node_pos)")
        yy = None if y is None else [int(torch.as_tensor(y).view(-1)[0])]
        return superpixel_graphs(img[None], yy, n_segments, compactness=compactness, features=features, k=k,
                                 edge_attr=edge_attr, collate=False)[0]
    if method != "skimage":
        raise GraphclsError(f"method must be 'skimage' or 'fast', got {method!r}")
    if merge not in (None, "ward"):
        raise GraphclsError(f"merge must be None or 'ward', got {merge!r}")
    if merge == "ward":
        from .merge import ward_merge
        kw = {**(slic_kwargs or {}), "enforce_connectivity": False}
        regions = max(1, min(int(n_segments), img.shape[0] * img.shape[1]))
        seg = ward_merge(slic_segments(img, n_segments, compactness, **kw), img, regions)
    else:
        seg = slic_segments(img, n_segments, compactness, **(slic_kwargs or {}))
    return graph_from_segments(img, seg, features=features, edges=edges, k=k, undirected=undirected,
                               edge_attr=edge_attr, y=y, return_seg=return_seg, return_img=return_img,
                               node_pos=node_pos)


class SuperpixelGraph(ImageTransform):
    r"""Transform form of :func:`superpixel_graph`.

    Takes an image (tensor/array) or a ``Data`` holding ``img [1, C, H, W]`` or
    ``[C, H, W]`` (its ``y`` is kept), and returns the superpixel graph. All
    keyword arguments go to :func:`superpixel_graph`.
    """
    fn = staticmethod(superpixel_graph)

    def __init__(self, n_segments: int = 75, **kwargs: Any) -> None:
        super().__init__(n_segments=n_segments, **kwargs)
