r"""Region features: the columns of ``x`` of a superpixel graph, named, computed for any segmenter.

Every superpixel path (scikit-image's SLIC, Ward merging, the batched SLIC)
ends in :func:`region_features`, which turns images and their label maps into
one row of ``x`` per region. A feature is a group of columns:

========== ============ ====================================================================
name       columns      value
========== ============ ====================================================================
mean       ``C``        mean value per channel
std        ``C``        standard deviation per channel
centroid   2            centroid ``(x / (W-1), y / (H-1))``
area       1            pixels / ``(H W)``
bbox       4            ``(x0, y0, x1, y1)`` of the bounding box, over ``W-1`` / ``H-1``
moments    3            :math:`\sigma_x/\sqrt{n}`, :math:`\sigma_y/\sqrt{n}`, :math:`\rho`
gradient   ``2C``       least-squares value slope per channel times :math:`\sqrt{n}`
occupancy  9            the share of each of 3x3 equal cells of the bounding box covered
========== ============ ====================================================================

:func:`feature_names` names the columns and :func:`feature_slices` maps each
group to its ``[start, stop)`` columns, so a model asks for ``"mean"`` or
``"bbox"`` by name. Adding a feature means: a name in :data:`NODE_FEATURES`, its
columns in :func:`feature_names`, its computation in :func:`region_features`
(and, if a flip or rotation changes it, a rule in
:mod:`~pyg_graphcls.graphs.augment`).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from ..errors import GraphclsError

__all__ = ["NODE_FEATURES", "GRADIENT_RIDGE", "OCCUPANCY_CELLS", "check_features", "feature_names",
           "feature_slices", "correlation", "shape_features", "occupancy_weights", "region_features"]

NODE_FEATURES = ("mean", "std", "centroid", "area", "bbox", "moments", "gradient", "occupancy")
#: ridge (px²) of the per-segment intensity-slope fit: a segment one pixel wide gets slope 0 across it
GRADIENT_RIDGE = 0.25
#: the ``occupancy`` feature splits each region's bounding box into OCCUPANCY_CELLS x OCCUPANCY_CELLS cells
OCCUPANCY_CELLS = 3
#: features that need each pixel's segment id (not only the per-segment sums)
_PER_PIXEL = ("bbox", "moments", "gradient", "occupancy")


def check_features(features: Sequence[str]) -> tuple[str, ...]:
    """``features`` as a tuple, checked: a non-empty subset of :data:`NODE_FEATURES`."""
    if isinstance(features, str):
        features = (features,)
    features = tuple(features)
    bad = [f for f in features if f not in NODE_FEATURES]
    if bad or not features:
        raise GraphclsError(f"node features must be a non-empty subset of {NODE_FEATURES}, got {features}")
    return features


def _columns(feature: str, channels: int) -> list[str]:
    if feature == "mean":
        return [f"mean_{c}" for c in range(channels)]
    if feature == "std":
        return [f"std_{c}" for c in range(channels)]
    if feature == "centroid":
        return ["centroid_x", "centroid_y"]
    if feature == "area":
        return ["area"]
    if feature == "bbox":
        return ["bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1"]
    if feature == "moments":
        return ["moment_sx", "moment_sy", "moment_rho"]
    if feature == "gradient":
        return [f"grad_x_{c}" for c in range(channels)] + [f"grad_y_{c}" for c in range(channels)]
    if feature == "occupancy":
        return [f"occ_{r}{c}" for r in range(OCCUPANCY_CELLS) for c in range(OCCUPANCY_CELLS)]
    raise GraphclsError(f"unknown node feature {feature!r}; choose from {NODE_FEATURES}")


def feature_names(features: Sequence[str], channels: int) -> list[str]:
    """Column names of ``x`` for the given features (in order) and channel count.

    Example: ``feature_names(("mean", "centroid"), 1) == ["mean_0", "centroid_x", "centroid_y"]``.
    """
    return [name for f in check_features(features) for name in _columns(f, channels)]


def feature_slices(features: Sequence[str], channels: int) -> dict[str, tuple[int, int]]:
    """Feature name → ``(start, stop)``: the columns ``x[:, start:stop]`` that feature fills.

    Example: ``feature_slices(("mean", "centroid"), 3) == {"mean": (0, 3), "centroid": (3, 5)}``.
    """
    out, start = {}, 0
    for f in check_features(features):
        stop = start + len(_columns(f, channels))
        out[f] = (start, stop)
        start = stop
    return out


def correlation(cov_xy: Tensor, sx: Tensor, sy: Tensor) -> Tensor:
    """``cov_xy / (sx sy)`` clamped to [-1, 1]; 0 where a standard deviation is 0 (a pixel, an axis-aligned line)."""
    prod = sx * sy
    return torch.where(prod > 1e-9, cov_xy / prod.clamp(min=1e-9), torch.zeros_like(prod)).clamp(-1, 1)


def shape_features(kind: str, cnt, cx, cy, sxx, syy, sxy, mean=None, sxc=None, syc=None) -> Tensor:
    r"""``moments`` or ``gradient`` columns from per-segment sums (float64 tensors, one row per segment).

    - ``moments``: the shape of the region, scale-free: :math:`\sigma_x/\sqrt{n}`,
      :math:`\sigma_y/\sqrt{n}` (standard deviations of the pixel positions over
      the square root of the pixel count: 0.29 for a square, more for an elongated
      region) and the correlation :math:`\rho` of x and y (its orientation; 0 for a
      single pixel or a line along an axis).
    - ``gradient``: per channel, the least-squares slope :math:`(g_x, g_y)` of the
      value over the region's pixels,

      .. math::
          \begin{pmatrix} g_x \\ g_y \end{pmatrix} = \sqrt{n}
          \begin{pmatrix} v_{xx} + r & v_{xy} \\ v_{xy} & v_{yy} + r \end{pmatrix}^{-1}
          \begin{pmatrix} \mathrm{cov}(x, v_c) \\ \mathrm{cov}(y, v_c) \end{pmatrix}

      with the position covariance :math:`v` and :math:`r` = ``GRADIENT_RIDGE``:
      the value change across the region, in which direction it gets brighter.

    Args:
        kind (str): ``"moments"`` or ``"gradient"``.
        cnt, cx, cy: pixels and centroid per segment ``[n]``.
        sxx, syy, sxy: sums of :math:`x^2, y^2, xy` over the pixels ``[n]``.
        mean, sxc, syc: (``gradient``) mean value per channel and the sums of
            :math:`x v_c`, :math:`y v_c` ``[n, C]``.

    Shapes:
        - **output:** ``[n, 3]`` (moments) or ``[n, 2C]`` (gradient: all x slopes, then all y)
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


def _cell_overlap(offset: Tensor, side: Tensor) -> Tensor:
    """``[P, OCCUPANCY_CELLS]``: how much of each cell (in cell widths) a unit pixel at ``offset``
    pixels from the start of a box ``side`` pixels long covers, the box cut into equal cells."""
    scale = OCCUPANCY_CELLS / side
    lo, hi = offset * scale, (offset + 1) * scale  # the pixel's extent in cell units
    cell = torch.arange(OCCUPANCY_CELLS, dtype=offset.dtype, device=offset.device)
    return (torch.minimum(hi[:, None], cell + 1) - torch.maximum(lo[:, None], cell)).clamp(min=0)


def occupancy_weights(dx: Tensor, dy: Tensor, width: Tensor, height: Tensor) -> Tensor:
    r"""``[P, OCCUPANCY_CELLS**2]`` share of each pixel in the cells of its region's bounding box.

    Summed over a region's pixels this is the ``occupancy`` feature: per cell
    (row-major, ``occ_{row}{col}``) the fraction of the cell the region covers,
    1 for a region that fills its box. Pixels are unit squares split by area
    between cells, so a box of any size (1 pixel too) has well-defined cells
    and a flip of the image mirrors the columns exactly.

    Args:
        dx, dy: the pixel's column and row minus its region's ``bbox`` x0, y0 ``[P]``.
        width, height: that box's size in pixels (``x1 - x0 + 1``) ``[P]``.
    """
    ox, oy = _cell_overlap(dx, width), _cell_overlap(dy, height)
    return (oy[:, :, None] * ox[:, None, :]).reshape(dx.size(0), -1)


def region_features(images: Tensor, labels: Tensor, counts: Tensor, features: Sequence[str],
                    mod: Optional[object] = None) -> tuple[Tensor, Tensor]:
    r"""Node features and centroids of the regions of a batch of label maps.

    All sums are float64 in pixel order, so the result does not depend on the
    batch it is computed in (nor on ``mod``).

    Args:
        images (Tensor): ``[B, H, W, C]`` float32 in [0, 1] (uint8 too when ``mod`` is given).
        labels (Tensor): ``[B, H * W]`` long, values ``0..counts[b]-1``.
        counts (Tensor): regions per image ``[B]``.
        features: feature names (:data:`NODE_FEATURES`), in column order.
        mod (optional): the compiled module of :mod:`~pyg_graphcls.graphs._compiled`
            (its ``segment_sums`` replaces the count and value sums, its ``segment_shape_sums`` the
            bbox, moments and gradient passes: the same bits).

    Returns:
        ``(x [N, F] float32, pos [N, 2] float64)`` for the ``N = sum(counts)``
        regions, image by image: ``pos`` is the centroid ``(x, y)`` in pixels.
    """
    features = check_features(features)
    B, H, W, C = images.shape
    dev = images.device
    lab = labels
    M = int(counts.max())
    f64 = torch.float64 if dev.type != "mps" else torch.float32
    # bbox, moments and gradient sums in one compiled pass (segment_shape_sums) when the module has it
    shape = None
    if mod is not None and hasattr(mod, "segment_shape_sums") and any(f in _PER_PIXEL for f in features) \
            and "occupancy" not in features:
        shape = mod.segment_shape_sums(images, lab, M, "gradient" in features).view(B * M, 7 + 2 * C)
    # segment id of every pixel over the batch (the tensor path's sums, the bbox and the shape features need it)
    gid = (lab + (torch.arange(B, device=dev) * M).view(B, 1)).view(-1) \
        if (mod is None or (shape is None and any(f in _PER_PIXEL for f in features))) else None
    if gid is not None:  # pixel rows and columns, as float64, in gid's order
        rows = torch.arange(H, device=dev, dtype=f64).repeat_interleave(W).repeat(B)
        cols = torch.arange(W, device=dev, dtype=f64).repeat(H * B)

    def ssum(v: Tensor) -> Tensor:
        return torch.zeros((B * M,) + v.shape[1:], dtype=v.dtype, device=dev).index_add_(0, gid, v)

    flat = None  # pixel values as float64 in [0, 1], [B*H*W, C]
    if mod is not None:  # uint8 or float32
        # one compiled pass: count, sum y, sum x, sum and sum of squares per channel (same bits as below)
        sums = mod.segment_sums(images, lab, M).view(B * M, 3 + 2 * C)
        cnt, sum_y, sum_x = sums[:, 0], sums[:, 1], sums[:, 2]
        sum_c, sum_c2 = sums[:, 3:3 + C], sums[:, 3 + C:]
    else:
        flat = images.reshape(B * H * W, C).to(f64)
        cnt = ssum(torch.ones(B * H * W, dtype=f64, device=dev))
        sum_y, sum_x = ssum(rows), ssum(cols)
        sum_c = ssum(flat) if any(f in ("mean", "std") for f in features) else None
        sum_c2 = ssum(flat * flat) if "std" in features else None
    safe = cnt.clamp(min=1)
    cx, cy = sum_x / safe, sum_y / safe
    pos = torch.stack([cx, cy], 1)                          # [B*M, 2] float64
    sx, sy = float(max(W - 1, 1)), float(max(H - 1, 1))
    parts, mean, pos2 = [], None, None

    def values_and_mean() -> tuple[Tensor, Tensor]:  # pixel values [B*H*W, C] in [0, 1] and segment means
        v = flat
        if v is None:  # the compiled path reads uint8 as it is
            v = images.reshape(B * H * W, C).to(f64)
            v = v / 255.0 if images.dtype == torch.uint8 else v
        m = mean if mean is not None else (sum_c if sum_c is not None else ssum(v)) / safe[:, None]
        return v, m

    def bbox_px() -> list[Tensor]:  # per-segment x0, y0, x1, y1 in pixels (inclusive), long
        if shape is not None:
            return [shape[:, i].long() for i in range(4)]
        ir = torch.arange(H, device=dev).repeat_interleave(W).repeat(B)
        ic = torch.arange(W, device=dev).repeat(H * B)
        big = torch.full((B * M,), max(H, W), dtype=torch.long, device=dev)
        return [big.scatter_reduce(0, gid, ic, "amin"), big.scatter_reduce(0, gid, ir, "amin"),
                torch.zeros_like(big).scatter_reduce(0, gid, ic, "amax"),
                torch.zeros_like(big).scatter_reduce(0, gid, ir, "amax")]

    for f in features:
        if f in ("mean", "std") and mean is None:
            mean = sum_c / safe[:, None]
        if f == "mean":
            parts.append(mean)
        elif f == "std":
            sq = sum_c2 / safe[:, None]
            parts.append(torch.sqrt(torch.clamp(sq - mean * mean, min=0.0)))
        elif f == "centroid":
            parts.append(pos / torch.tensor([sx, sy], dtype=f64, device=dev))
        elif f == "area":
            parts.append((cnt / (H * W))[:, None])
        elif f in ("moments", "gradient"):
            if pos2 is None:  # sums of x², y², xy: both shape features read them
                pos2 = [shape[:, 4], shape[:, 5], shape[:, 6]] if shape is not None else \
                    [ssum(cols * cols), ssum(rows * rows), ssum(cols * rows)]
            extra = {}
            if f == "gradient" and shape is not None:
                mean = mean if mean is not None else sum_c / safe[:, None]
                extra = {"mean": mean, "sxc": shape[:, 7:7 + C], "syc": shape[:, 7 + C:]}
            elif f == "gradient":
                flat, mean = values_and_mean()
                extra = {"mean": mean, "sxc": ssum(flat * cols[:, None]), "syc": ssum(flat * rows[:, None])}
            parts.append(shape_features(f, cnt, cx, cy, *pos2, **extra))
        elif f == "bbox":
            parts.append(torch.stack(bbox_px(), 1).to(f64) / torch.tensor([sx, sy, sx, sy], dtype=f64, device=dev))
        elif f == "occupancy":
            x0, y0, x1, y1 = (b.to(f64) for b in bbox_px())
            w9 = occupancy_weights(cols - x0[gid], rows - y0[gid], (x1 - x0 + 1)[gid], (y1 - y0 + 1)[gid])
            parts.append(ssum(w9))
    node_ok = (torch.arange(M, device=dev).view(1, M) < counts.view(B, 1)).view(-1)
    return torch.cat(parts, 1).float()[node_ok], pos[node_ok]
