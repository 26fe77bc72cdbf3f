"""Batched superpixel graphs: SLIC-style clustering of ``[B, H, W, C]`` in torch.

scikit-image's ``slic`` converts one image per call and most of the time of a
28x28 conversion goes to the per-call Python work around it. This module
clusters a whole batch at once with tensor operations only (CPU or CUDA, no
per-image Python loop), then computes node features and kNN edges for the
batch, returning the collated storage of :class:`~torch_geometric.data.InMemoryDataset`
(or a list of ``Data``) with the same layout as
:func:`~pyg_graphcls.graphs.superpixel_graph`.

The clustering (``batched_slic``) follows SLIC (Achanta et al. 2012) as
scikit-image runs it: the same regular grid of initial centres
(``skimage.util.regular_grid``), the same distance
:math:`D^2 = \\|c_p - c_k\\|^2 / m^2 + \\|p - k\\|^2 / S^2` (colour in Lab for
RGB images, ``m`` the compactness, ``S`` the grid step), ``max_iter``
assignment/update rounds. Differences, on purpose: each pixel compares itself
with the 3x3 grid cells around its home cell (scikit-image scans a 2S window
around each centre: nearly the same candidates, but a fixed-size gather);
initial centre colours are the pixel colours at the grid points; instead of
scikit-image's connectivity pass (a sequential flood fill) empty clusters are
dropped and labels renumbered 0..n-1 per image, so a label may have a few
disconnected pixels. Quality against scikit-image is measured by
``benchmarks/conversion.py`` (:mod:`pyg_graphcls.graphs.quality`).

Node features and edges (``segments_to_storage``) reproduce
:func:`~pyg_graphcls.graphs.superpixels.segment_features` and
:func:`~pyg_graphcls.graphs.edges.knn_graph` exactly for a given label map
(float64 sums, the same distance formula and a stable sort), so the only
difference between the two paths is the clustering.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from ..errors import GraphclsError
from . import _slic_cpu
from .edges import edge_features
from .superpixels import (_check_features, default_compactness, occupancy_weights, quadrant_features, quadrant_weights,
                          shape_features)

__all__ = ["batched_slic", "rgb_to_lab", "segments_to_storage", "superpixel_graphs", "storage_to_list",
           "as_image_batch"]

_RUN_MIN = 8  # grid steps below this: the compiled loop goes pixel by pixel (runs too short to vectorise)
_CHUNK = 512  # images per clustering block: bounds memory at ~CHUNK * H * W * 9 * (C + 3) floats


def as_image_batch(images: Any) -> Tensor:
    """``[B, H, W]``/``[B, H, W, C]`` uint8/uint16/float (numpy or torch) → float32 ``[B, H, W, C]`` in [0, 1]."""
    t = torch.as_tensor(images) if not isinstance(images, Tensor) else images
    if t.dim() == 3:
        t = t.unsqueeze(-1)
    if t.dim() != 4 or t.size(0) == 0 or t.size(1) == 0 or t.size(2) == 0:
        raise GraphclsError(f"images must be a non-empty [B, H, W] or [B, H, W, C] batch, got shape {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        return t.float() / 255.0
    if t.dtype == torch.bool:
        return t.float()
    if not t.is_floating_point() and not t.is_complex():  # as_image's rule, image by image
        from .image import integer_divisor
        if t.min() < 0:
            raise GraphclsError(f"images have negative integer values (min {int(t.min())})")
        tops = t.reshape(t.size(0), -1).amax(1).tolist()
        div = torch.tensor([integer_divisor(int(m), t.dtype, name=f"image {i}") for i, m in enumerate(tops)])
        return t.float() / div.view(-1, 1, 1, 1)
    if not t.is_floating_point():
        raise GraphclsError(f"images: unsupported dtype {t.dtype}")
    t = t.float()
    if not torch.isfinite(t).all():
        raise GraphclsError("images contain NaN or Inf")
    return t.clamp(0.0, 1.0)


def _compiled(device: torch.device, use_cpp: Optional[bool]):
    """The compiled CPU module for tensors on ``device`` (``None`` off CPU, when ``use_cpp`` is
    ``False`` or when it cannot build)."""
    return _slic_cpu.load() if (device.type == "cpu" and use_cpp is not False) else None


def _prepare(images: Any, use_cpp: Optional[bool]):
    """``(raw, img, mod)``: the input as a tensor, the batch to work on and the compiled module
    (``None`` off CPU or when it cannot build). The compiled path reads uint8 as it is; everything
    else goes through :func:`as_image_batch` (float32 in [0, 1], checked)."""
    raw = images if isinstance(images, Tensor) else torch.as_tensor(np.asarray(images))
    if raw.dim() == 3:
        raw = raw.unsqueeze(-1)
    mod = _compiled(raw.device, use_cpp)
    keep = mod is not None and raw.dtype == torch.uint8 and raw.dim() == 4 and raw.numel() > 0
    return raw, (raw if keep else as_image_batch(raw)), mod


def _linear_rgb(rgb: Tensor) -> Tensor:
    return torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def rgb_to_lab(rgb: Tensor, raw: Optional[Tensor] = None) -> Tensor:
    """sRGB ``[..., 3]`` in [0, 1] → CIE Lab (D65), the formulas of ``skimage.color.rgb2lab``.

    Written in torch so colour conversion runs batched on the images' device.
    ``raw``: the same image as uint8, when it was one: the sRGB linearisation
    then reads a 256-entry table instead of a power per pixel.
    """
    if raw is not None and raw.dtype == torch.uint8:
        lut = _linear_rgb(torch.arange(256, dtype=rgb.dtype, device=rgb.device) / 255.0)
        lin = lut[raw.long()]
    else:
        lin = _linear_rgb(rgb)
    m = torch.tensor([[0.412453, 0.357580, 0.180423],
                      [0.212671, 0.715160, 0.072169],
                      [0.019334, 0.119193, 0.950227]], dtype=rgb.dtype, device=rgb.device)
    xyz = lin @ m.T / torch.tensor([0.95047, 1.0, 1.08883], dtype=rgb.dtype, device=rgb.device)
    f = torch.where(xyz > 0.008856, xyz.clamp(min=0) ** (1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
    L = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return torch.stack([L, a, b], -1)


@lru_cache(maxsize=32)
def _grid(h: int, w: int, n_segments: int):
    """Initial centres (scikit-image's grid), the home cell of each pixel and its 3x3 candidate cells.

    Returns ``(cy [K], cx [K], step, cand [H*W, 9])`` as numpy; ``cand`` holds
    ``K`` (a dummy centre that never wins) where a neighbour cell is off the grid.
    """
    from skimage.util import regular_grid

    sl = regular_grid((1, h, w), n_segments)
    ys = np.arange(h)[sl[1]]
    xs = np.arange(w)[sl[2]]
    steps = [float(s.step) if s.step is not None else 1.0 for s in sl]
    gh, gw = len(ys), len(xs)
    K = gh * gw
    cy = np.repeat(ys, gw).astype(np.float64)
    cx = np.tile(xs, gh).astype(np.float64)
    # home cell: nearest initial centre along each axis
    hy = np.abs(np.arange(h)[:, None] - ys[None, :]).argmin(1)
    hx = np.abs(np.arange(w)[:, None] - xs[None, :]).argmin(1)
    cand = np.full((h, w, 9), K, np.int64)
    j = 0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            ry, rx = hy + dy, hx + dx
            ok = (ry >= 0)[:, None] & (ry < gh)[:, None] & (rx >= 0)[None, :] & (rx < gw)[None, :]
            idx = np.clip(ry, 0, gh - 1)[:, None] * gw + np.clip(rx, 0, gw - 1)[None, :]
            cand[:, :, j] = np.where(ok, idx, K)
            j += 1
    return cy, cx, max(steps), cand.reshape(h * w, 9)


def _cluster_block(feat: Tensor, cand: Tensor, init: Tensor, K: int, max_iter: int) -> Tensor:
    """SLIC rounds on one block. ``feat [B, P, D]`` scaled pixel features (colour/m, y/S, x/S),
    ``cand [P, 9]``, ``init [K]`` pixel index of each initial centre. Returns labels ``[B, P]`` in 0..K-1."""
    B, P, D = feat.shape
    dev = feat.device
    ones = torch.ones(B, P, 1, dtype=feat.dtype, device=dev)
    fext = torch.cat([feat, ones], -1)                      # [B, P, D+1]; last column counts pixels
    ctr = feat[:, init]                                     # [B, K, D]
    offs = (torch.arange(B, device=dev) * (K + 1)).view(B, 1)
    dummy = torch.zeros(B, 1, D + 1, dtype=feat.dtype, device=dev)
    dummy[..., D] = float("inf")
    cand_b = cand.unsqueeze(0).expand(B, P, 9)
    lab = None
    for it in range(max_iter + 1):
        # ||f_p - f_k||^2 = ||f_p||^2 - 2 f_p.f_k + ||f_k||^2; the first term is the same for every
        # candidate, so argmin over  [f_p, 1] . [-2 f_k, ||f_k||^2]  (one gather, one product)
        v = torch.cat([-2.0 * ctr, (ctr * ctr).sum(-1, keepdim=True)], -1)   # [B, K, D+1]
        v = torch.cat([v, dummy], 1)                                           # [B, K+1, D+1]
        g = v[:, cand]                                                         # [B, P, 9, D+1]
        score = (g * fext.unsqueeze(2)).sum(-1)                                # [B, P, 9]
        j = score.argmin(-1, keepdim=True)
        lab = cand_b.gather(-1, j).squeeze(-1)                                 # [B, P]
        if it == max_iter:
            break
        sums = torch.zeros(B * (K + 1), D + 1, dtype=feat.dtype, device=dev)
        sums.index_add_(0, (lab + offs).view(-1), fext.view(-1, D + 1))
        sums = sums.view(B, K + 1, D + 1)[:, :K]
        cnt = sums[..., D:]
        # an empty cluster keeps its previous centre (it may win pixels back next round)
        ctr = torch.where(cnt > 0, sums[..., :D] / cnt.clamp(min=1), ctr)
    return lab


def batched_slic(images: Any, n_segments: int = 75, compactness: Optional[float] = None, max_iter: int = 10,
                 chunk: int = _CHUNK, use_cpp: Optional[bool] = None) -> tuple[Tensor, Tensor]:
    r"""SLIC-style superpixels of a batch of same-size images, on the images' device.

    Args:
        images: ``[B, H, W]`` or ``[B, H, W, C]`` (uint8, uint16 or float in
            [0, 1]; numpy or torch, CPU or CUDA).
        n_segments (int): approximate number of regions (scikit-image's grid:
            81 cells for 75 on 28x28; empty clusters are dropped).
        compactness (float, optional): colour/space balance ``m``; ``None``
            picks 10 for RGB (Lab colour) and 0.1 for other channel counts, as
            :func:`~pyg_graphcls.graphs.superpixel_graph` does.
        max_iter (int): assignment/update rounds (scikit-image: 10).
        chunk (int): images clustered together (memory bound).
        use_cpp (bool, optional): on CPU, the compiled loop of
            :mod:`~pyg_graphcls.graphs._slic_cpu` (default: when it builds);
            ``False``: the tensor path (the one CUDA runs).

    Returns:
        ``(labels [B, H, W] int64, counts [B])``: labels ``0..counts[b]-1`` per image.
    """
    raw, img, mod = _prepare(images, use_cpp)
    B, H, W, C = img.shape
    if n_segments < 1:
        raise GraphclsError(f"n_segments must be >= 1, got {n_segments}")
    if max_iter < 0:
        raise GraphclsError(f"max_iter must be >= 0, got {max_iter}")
    if compactness is None:
        compactness = default_compactness(C)
    if compactness <= 0:
        raise GraphclsError(f"compactness must be > 0, got {compactness}")
    n_segments = int(min(n_segments, H * W))
    cy, cx, step, cand_np = _grid(H, W, n_segments)
    K = cy.size
    dev = img.device
    cand = torch.from_numpy(cand_np).to(dev)
    # off-grid candidates -> the home cell (column 4): a duplicate never changes the argmin
    cand_home = torch.where(cand == K, cand[:, 4:5], cand)
    init = torch.from_numpy((cy * W + cx).astype(np.int64)).to(dev)
    if mod is None:  # the tensor path's spatial features (the compiled one writes its own)
        yy, xx = torch.meshgrid(torch.arange(H, device=dev, dtype=torch.float32),
                                torch.arange(W, device=dev, dtype=torch.float32), indexing="ij")
        pix_sp = torch.stack([yy.reshape(-1), xx.reshape(-1)], -1) / step     # [P, 2]
    labels = torch.empty(B, H * W, dtype=torch.long, device=dev)
    for s in range(0, B, chunk):
        block = img[s:s + chunk]
        b = block.size(0)
        if mod is not None:
            feat = mod.pixel_features(block, float(compactness), float(step), C == 3)   # [b, C + 2, P]
            labels[s:s + b] = mod.slic_labels(feat, cand_home, init, W, int(max_iter), step < _RUN_MIN)
        else:
            col = rgb_to_lab(block, raw[s:s + chunk] if raw.dtype == torch.uint8 else None) if C == 3 else block
            feat = torch.cat([col.reshape(b, H * W, C) / compactness, pix_sp.unsqueeze(0).expand(b, -1, -1)], -1)
            labels[s:s + b] = _cluster_block(feat, cand, init, K, max_iter)
    # renumber the clusters that hold pixels to 0..n-1, keeping their order
    present = torch.zeros(B, K, dtype=torch.bool, device=dev)
    present.scatter_(1, labels, True)
    new_id = present.long().cumsum(1) - 1
    labels = new_id.gather(1, labels)
    return labels.view(B, H, W), present.sum(1)


def _batched_knn(pos: Tensor, counts: Tensor, k: int, use_cpp: Optional[bool] = None) -> tuple[Tensor, Tensor, Tensor]:
    """kNN edges of many small graphs at once, equal to :func:`knn_graph`'s one-graph path.

    ``pos [B, M, 2]`` zero-padded, ``counts [B]``. Returns local ``(src, dst)``
    ordered by graph, then target, then distance (ties by index: a stable
    sort, as numpy's), and the edge count per graph.
    """
    B, M, _ = pos.shape
    mod = _compiled(pos.device, use_cpp)
    if mod is not None:
        ei = mod.knn_small(pos.contiguous(), counts.contiguous(), int(k))
        return ei[0], ei[1], torch.clamp(counts - 1, min=0).clamp(max=k) * counts
    valid = torch.arange(M, device=pos.device).view(1, M) < counts.view(B, 1)
    dx = pos[..., 0].unsqueeze(2) - pos[..., 0].unsqueeze(1)
    dy = pos[..., 1].unsqueeze(2) - pos[..., 1].unsqueeze(1)
    d = dx * dx + dy * dy                                  # the numpy path's formula (no cdist/mm trick)
    d.masked_fill_(~valid.unsqueeze(1), float("inf"))
    d.diagonal(dim1=1, dim2=2).fill_(float("inf"))
    kk = min(k, max(M - 1, 0))
    if kk == 0:
        z = torch.zeros(0, dtype=torch.long, device=pos.device)
        return z, z, torch.zeros(B, dtype=torch.long, device=pos.device)
    _, idx = torch.sort(d, dim=-1, stable=True)
    idx = idx[..., :kk]                                     # [B, M, kk]
    per_node = torch.clamp(counts - 1, min=0).clamp(max=k)  # min(k, n - 1)
    keep = valid.unsqueeze(-1) & (torch.arange(kk, device=pos.device).view(1, 1, kk) < per_node.view(B, 1, 1))
    dst = torch.arange(M, device=pos.device).view(1, M, 1).expand(B, M, kk)
    return idx[keep], dst[keep], per_node * counts


def segments_to_storage(images: Any, labels: Tensor, counts: Optional[Tensor] = None, y: Any = None, *,
                        features: Sequence[str] = ("mean", "centroid"), k: int = 8,
                        edge_attr: Sequence[str] = ("distance",), use_cpp: Optional[bool] = None
                        ) -> tuple[dict, dict]:
    """Node features, kNN edges and labels of a batch of segmentations, collated.

    ``labels [B, H, W]`` with values ``0..counts[b]-1``. Returns ``(data,
    slices)`` in :class:`~torch_geometric.data.InMemoryDataset` layout (local
    node indices in ``edge_index``), graph ``b`` equal to
    ``graph_from_segments(image_b, labels_b, features=..., k=..., edge_attr=...)``.
    """
    features = _check_features(features)
    _, img, mod = _prepare(images, use_cpp)
    B, H, W, C = img.shape
    dev = img.device
    lab = torch.as_tensor(labels, device=dev).long().reshape(B, H * W)
    lab_max = lab.max(1).values
    counts = lab_max + 1 if counts is None else counts.to(dev).long()
    M = int(counts.max())
    if int(lab.min()) < 0 or bool((lab_max >= counts).any()):
        raise GraphclsError("labels must lie in 0..counts[b]-1 for each image")
    f64 = torch.float64 if dev.type != "mps" else torch.float32
    # segment id of every pixel over the batch (the tensor path's sums, the bbox and the shape features need it)
    gid = (lab + (torch.arange(B, device=dev) * M).view(B, 1)).view(-1) \
        if (mod is None or any(f in ("bbox", "moments", "gradient", "quadrants", "occupancy") for f in features)) else None
    if gid is not None:  # pixel rows and columns, as float64, in gid's order
        rows = torch.arange(H, device=dev, dtype=f64).repeat_interleave(W).repeat(B)
        cols = torch.arange(W, device=dev, dtype=f64).repeat(H * B)

    def ssum(v: Tensor) -> Tensor:
        return torch.zeros((B * M,) + v.shape[1:], dtype=v.dtype, device=dev).index_add_(0, gid, v)

    flat = None  # pixel values as float64 in [0, 1], [B*H*W, C]
    if mod is not None:  # _prepare gives it uint8 or float32
        # one compiled pass: count, sum y, sum x, sum and sum of squares per channel (same bits as below)
        sums = mod.segment_sums(img, lab, M).view(B * M, 3 + 2 * C)
        cnt, sum_y, sum_x = sums[:, 0], sums[:, 1], sums[:, 2]
        sum_c, sum_c2 = sums[:, 3:3 + C], sums[:, 3 + C:]
    else:
        flat = img.reshape(B * H * W, C).to(f64)
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
            v = img.reshape(B * H * W, C).to(f64)
            v = v / 255.0 if img.dtype == torch.uint8 else v
        m = mean if mean is not None else (sum_c if sum_c is not None else ssum(v)) / safe[:, None]
        return v, m

    def bbox_px() -> list[Tensor]:  # per-segment x0, y0, x1, y1 in pixels (inclusive), long
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
                pos2 = [ssum(cols * cols), ssum(rows * rows), ssum(cols * rows)]
            extra = {}
            if f == "gradient":
                flat, mean = values_and_mean()
                extra = {"mean": mean, "sxc": ssum(flat * cols[:, None]), "syc": ssum(flat * rows[:, None])}
            parts.append(shape_features(f, cnt, cx, cy, *pos2, **extra))
        elif f == "quadrants":
            flat, mean = values_and_mean()
            w4 = quadrant_weights(cols - cx[gid], rows - cy[gid])
            parts.append(quadrant_features(ssum(w4), ssum(w4[:, :, None] * flat[:, None, :]), mean))
        elif f == "bbox":
            parts.append(torch.stack(bbox_px(), 1).to(f64) / torch.tensor([sx, sy, sx, sy], dtype=f64, device=dev))
        elif f == "occupancy":
            x0, y0, x1, y1 = (b.to(f64) for b in bbox_px())
            w9 = occupancy_weights(cols - x0[gid], rows - y0[gid], (x1 - x0 + 1)[gid], (y1 - y0 + 1)[gid])
            parts.append(ssum(w9))
    node_ok = (torch.arange(M, device=dev).view(1, M) < counts.view(B, 1)).view(-1)
    x = torch.cat(parts, 1).float()
    pos32 = pos.float()
    src, dst, n_edges = _batched_knn(pos32.view(B, M, 2), counts, k, use_cpp)
    x, pos32 = x[node_ok], pos32[node_ok]
    node_ptr = torch.zeros(B + 1, dtype=torch.long, device=dev)
    node_ptr[1:] = counts.cumsum(0)
    edge_ptr = torch.zeros(B + 1, dtype=torch.long, device=dev)
    edge_ptr[1:] = n_edges.cumsum(0)
    edge_index = torch.stack([src, dst])
    data = {"x": x, "pos": pos32, "edge_index": edge_index}
    slices = {"x": node_ptr, "pos": node_ptr.clone(), "edge_index": edge_ptr}
    graph_of_edge = torch.repeat_interleave(torch.arange(B, device=dev), n_edges)
    ea = edge_features(pos32, edge_index + node_ptr[graph_of_edge], edge_attr, scale=float(max(H, W)))
    if ea is not None:
        data["edge_attr"] = ea
        slices["edge_attr"] = edge_ptr.clone()
    if y is not None:
        yt = torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y).long().view(-1).to(dev)
        if yt.numel() != B:
            raise GraphclsError(f"{B} images but {yt.numel()} labels")
        data["y"] = yt
        slices["y"] = torch.arange(B + 1, device=dev)
    return data, slices


def _convert_one(part: Tensor, yy: Optional[Tensor], kw: dict) -> tuple[dict, dict]:
    """One block: clustering, then features and edges."""
    lab, cnt = batched_slic(part, kw["n_segments"], kw["compactness"], kw["max_iter"], chunk=len(part),
                            use_cpp=kw["use_cpp"])
    return segments_to_storage(part, lab, cnt, yy, features=kw["features"], k=kw["k"], edge_attr=kw["edge_attr"],
                               use_cpp=kw["use_cpp"])


def _block_job(args):
    """One block in a worker process: one torch thread, numpy arrays back (plain pickling)."""
    torch.set_num_threads(1)
    data, slices = _convert_one(*args)
    return {k: v.numpy() for k, v in data.items()}, {k: v.numpy() for k, v in slices.items()}


def superpixel_graphs(images: Any, y: Any = None, n_segments: int = 75, *, compactness: Optional[float] = None,
                      features: Sequence[str] = ("mean", "centroid"), k: int = 8,
                      edge_attr: Sequence[str] = ("distance",), max_iter: int = 10,
                      collate: bool = True, chunk: int = _CHUNK, workers: int = 1,
                      use_cpp: Optional[bool] = None):
    r"""Superpixel graphs of a batch of same-size images (batched SLIC + batched features/kNN).

    Args:
        images: ``[B, H, W]`` or ``[B, H, W, C]``, numpy or torch, CPU or CUDA.
        y: optional ``[B]`` class ids.
        n_segments, compactness, max_iter: see :func:`batched_slic`.
        features, k, edge_attr: as :func:`~pyg_graphcls.graphs.superpixel_graph`
            with ``edges="knn"``.
        collate (bool): return ``(data, slices)`` (``InMemoryDataset`` layout,
            nothing per image) instead of a list of ``Data``.
        chunk (int): images per block (clustering and features).
        workers (int): CPU parallelism. With at least two ``chunk`` blocks per
            worker, that many processes (one torch thread each) convert blocks;
            with fewer, this process runs with ``workers`` torch threads (the
            compiled loops are parallel over images). ``1``: this process, with
            torch's threads.
        use_cpp (bool, optional): see :func:`batched_slic`.

    Returns:
        ``(data, slices)`` or ``list[Data]``.
    """
    _check_features(features)
    img = images if isinstance(images, Tensor) else torch.as_tensor(np.asarray(images))
    B = img.size(0) if img.dim() >= 3 else 0
    yy = None if y is None else torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y).view(-1)
    if yy is not None and yy.numel() != B:
        raise GraphclsError(f"{B} images but {yy.numel()} labels")
    kw = dict(n_segments=n_segments, compactness=compactness, max_iter=max_iter, features=features, k=k,
              edge_attr=edge_attr, use_cpp=use_cpp)
    # Processes pay a start-up and a pickling cost per call; with fewer than two full blocks per
    # worker (e.g. 48 photos) one process running `workers` torch threads is faster, since the
    # compiled loops are parallel over images (224x224: 137 vs 98 img/s with 2, measured).
    pool = workers > 1 and img.device.type == "cpu" and B >= 2 * workers * chunk
    jobs = [(img[s:s + chunk], None if yy is None else yy[s:s + chunk], kw) for s in range(0, max(B, 1), chunk)]
    threads_before = torch.get_num_threads()
    if workers > 1 and not pool and img.device.type == "cpu":
        torch.set_num_threads(max(threads_before, workers))
    try:
        blocks = _convert_blocks(jobs, workers if pool else 1, use_cpp)
    finally:
        torch.set_num_threads(threads_before)
    data, slices = merge_storage(blocks)
    return (data, slices) if collate else storage_to_list(data, slices)


def _convert_blocks(jobs: list, workers: int, use_cpp: Optional[bool]) -> list[tuple[dict, dict]]:
    """Convert each ``(images, y, kwargs)`` block, in ``workers`` processes when more than one."""
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        if use_cpp is not False:
            _slic_cpu.load()  # build/load once before forking
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as pool:
            out = list(pool.map(_block_job, jobs))
        return out  # numpy blocks: merge_storage wraps them
    return [_convert_one(*job) for job in jobs]


def merge_storage(blocks: list[tuple[dict, dict]]) -> tuple[dict, dict]:
    """Concatenate collated blocks (``InMemoryDataset`` layout, local indices, no index increments).

    Blocks hold tensors or numpy arrays (what worker processes return); the result holds tensors
    (numpy arrays are wrapped, not copied, before the one concatenation)."""
    blocks = [({k: torch.as_tensor(v) for k, v in d.items()}, {k: torch.as_tensor(v) for k, v in s.items()})
              for d, s in blocks]
    keys = list(blocks[0][0])
    for arrays, _ in blocks[1:]:
        if list(arrays) != keys:
            raise GraphclsError(f"graphs do not all have the same fields: {keys} vs {list(arrays)}")
    if len(blocks) == 1:
        return blocks[0]
    probe = Data()
    data, slices = {}, {}
    for key in keys:
        first = blocks[0][0][key]
        dim = (probe.__cat_dim__(key, first) or 0) % first.dim()
        try:
            data[key] = torch.cat([b[0][key] for b in blocks], dim=dim)
        except RuntimeError:
            raise GraphclsError(f"cannot store field {key!r}: its shape differs between graphs "
                                f"(e.g. 'seg' of images of different sizes)") from None
        parts, off = [torch.zeros(1, dtype=torch.long)], 0
        for b in blocks:
            parts.append(b[1][key][1:].long() + off)
            off += int(b[1][key][-1])
        slices[key] = torch.cat(parts)
    return data, slices


def storage_to_list(data: dict, slices: dict) -> list[Data]:
    """Split ``InMemoryDataset`` storage into one ``Data`` per graph."""
    n = slices["x"].numel() - 1
    out = []
    probe = Data()
    for i in range(n):
        d = Data()
        for key, v in data.items():
            s = slices[key]
            dim = probe.__cat_dim__(key, v) % v.dim()
            d[key] = v.narrow(dim, int(s[i]), int(s[i + 1] - s[i]))
        out.append(d)
    return out
