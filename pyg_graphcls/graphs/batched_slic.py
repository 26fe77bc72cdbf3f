r"""Batched SLIC: SLIC-style clustering of ``[B, H, W, C]`` images in one call, CPU or CUDA.

scikit-image's ``slic`` converts one image per call and most of the time of a
28x28 conversion goes to the per-call Python work around it. :func:`batched_slic`
clusters a whole batch at once: with the compiled loop of ``csrc/batched_slic.cpp``
on CPU (:mod:`~pyg_graphcls.graphs._compiled`), with tensor operations only
(no per-image Python loop) on CUDA or where the loop cannot be built.
:func:`~pyg_graphcls.graphs.superpixels.superpixel_graphs` turns its labels
into graphs.

The clustering follows SLIC (Achanta et al. 2012) as scikit-image runs it: the
same regular grid of initial centres (``skimage.util.regular_grid``), the same
distance

.. math::
    D^2 = \frac{\lVert c_p - c_k \rVert^2}{m^2} + \frac{\lVert p - k \rVert^2}{S^2}

(colour in CIE Lab for RGB images, ``m`` the compactness, ``S`` the grid step)
and ``max_iter`` assignment/update rounds. Differences, on purpose: each pixel
compares itself with the 3x3 grid cells around its home cell (scikit-image
scans a 2S window around each centre: nearly the same candidates, but a
fixed-size gather); initial centre colours are the pixel colours at the grid
points; instead of scikit-image's connectivity pass (a sequential flood fill
that absorbs small fragments into the first neighbour it meets) the clusters
are split into their 4-connected pieces and touching pieces are merged by
Ward's criterion down to ``n_segments`` regions
(:func:`~pyg_graphcls.graphs.connectivity.connect_regions`): every label is
one 4-connected piece, and an image gets exactly ``n_segments`` regions
whenever its clusters come in at least that many pieces (otherwise every
piece is kept). ``connectivity=False`` returns the raw clusters (empty ones
dropped, labels renumbered 0..n-1, a label may then have disconnected
pixels). Large cells (a grid step of 16 pixels or more, e.g. 224x224 photos
with 75 segments) run coarse to fine by default: the rounds cluster the
half-resolution image (2x2 means of the pixel features) and one assignment of
the full-resolution pixels to the final centres gives the labels, a quarter of
the pixels in the rounds with the same quality on photo collages
(``benchmarks/RESULTS.md``). Quality against scikit-image:
:mod:`~pyg_graphcls.graphs.quality` and ``benchmarks/conversion.py``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from ..errors import GraphclsError
from . import _compiled
from .connectivity import connect_regions
from .image import integer_divisor

__all__ = ["batched_slic", "rgb_to_lab", "as_image_batch", "default_compactness", "prepare_images"]


def default_compactness(channels: int) -> float:
    """SLIC's colour/space balance ``m`` when none is given: 10 for RGB (Lab colour, 0-100), 0.1 otherwise.

    scikit-image's default ``compactness=10`` assumes Lab colour. For a grayscale
    image in [0, 1] it makes the spatial term win and returns a regular grid
    (81 square cells for ``n_segments=75`` on 28x28, whatever the digit); with
    0.1 regions follow the strokes.
    """
    return 10.0 if channels >= 3 else 0.1


_RUN_MIN = 8  # grid steps below this: the compiled loop vectorises across images (runs too short to vectorise)
_COARSE_MIN = 16  # grid steps from this up: coarse-to-fine rounds by default (batched_slic's `coarse`)
_BLOCK_BYTES = 16 << 20  # compiled path: the feature planes of a block stay under this
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


def compiled_module(device: torch.device, use_cpp: Optional[bool]):
    """The compiled CPU module for tensors on ``device`` (``None`` off CPU, when ``use_cpp`` is
    ``False`` or when it cannot build)."""
    return _compiled.load() if (device.type == "cpu" and use_cpp is not False) else None


def prepare_images(images: Any, use_cpp: Optional[bool]):
    """``(raw, img, mod)``: the input as a tensor, the batch to work on and the compiled module
    (``None`` off CPU or when it cannot build). The compiled path reads uint8 as it is; everything
    else goes through :func:`as_image_batch` (float32 in [0, 1], checked)."""
    raw = images if isinstance(images, Tensor) else torch.as_tensor(np.asarray(images))
    if raw.dim() == 3:
        raw = raw.unsqueeze(-1)
    mod = compiled_module(raw.device, use_cpp)
    keep = mod is not None and raw.dtype == torch.uint8 and raw.dim() == 4 and raw.numel() > 0
    return raw, (raw if keep else as_image_batch(raw)), mod


def _linear_rgb(rgb: Tensor) -> Tensor:
    return torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def rgb_to_lab(rgb: Tensor, raw: Optional[Tensor] = None) -> Tensor:
    r"""sRGB in [0, 1] → CIE Lab (D65 white), the formulas of ``skimage.color.rgb2lab``.

    The reference colour conversion of the batched path. ``pixel_features`` of
    ``csrc/batched_slic.cpp`` is its compiled twin (Lab, scaling and the
    position planes in one pass per image: 1.0 ms instead of 5.7 ms per
    224x224 RGB image on one thread, measured), tested against this one:

    .. math::
        \mathrm{lin}(v) = \begin{cases} ((v + 0.055) / 1.055)^{2.4} & v > 0.04045 \\
        v / 12.92 & \text{otherwise} \end{cases}, \qquad
        (X, Y, Z) = M \, \mathrm{lin}(r, g, b) / (0.95047, 1, 1.08883),

        L = 116 f(Y) - 16, \quad a = 500 (f(X) - f(Y)), \quad b = 200 (f(Y) - f(Z)),

    with :math:`f(t) = t^{1/3}` above :math:`0.008856` and :math:`7.787 t + 16/116` below.

    Args:
        rgb (Tensor): ``[..., 3]`` float in [0, 1], any device.
        raw (Tensor, optional): the same image as uint8, when it was one: the
            linearisation then reads a 256-entry table instead of a power per pixel.

    Shapes:
        - **output:** ``[..., 3]`` (L, a, b)
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


@lru_cache(maxsize=32)
def _cpu_grid(h: int, w: int, n_segments: int) -> tuple[Tensor, Tensor, Tensor]:
    """The compiled path's grid tensors, ``(cand_home [H*W, 9], cand_half [ceil(H/2) * ceil(W/2), 9],
    init [K])``: off-grid candidates replaced by the home cell (column 4; a duplicate never changes the
    argmin), the candidates of each 2x2 block those of its top-left pixel, the pixel index of each
    initial centre. Kept between calls: 3.6 MB of candidates for a 224x224 image, built afresh per
    call before."""
    cy, cx, _, cand_np = _grid(h, w, n_segments)
    cand = torch.from_numpy(cand_np)
    cand_home = torch.where(cand == cy.size, cand[:, 4:5], cand)
    cand_half = cand_home.view(h, w, 9)[::2, ::2].reshape(-1, 9).contiguous()
    return cand_home, cand_half, torch.from_numpy((cy * w + cx).astype(np.int64))


def _half_planes(feat: Tensor, h: int, w: int) -> Tensor:
    """``[B, H*W, D]`` → ``[B, ceil(H/2) * ceil(W/2), D]``: each value the mean of a 2x2 block of pixels,
    ``((top-left + top-right) + (bottom-left + bottom-right)) * 0.25`` (an odd last row or column repeats
    its pixels), as ``half_planes`` of ``csrc/batched_slic.cpp`` computes it."""
    b, _, d = feat.shape
    t = feat.view(b, h, w, d)
    y0 = torch.arange(0, h, 2, device=feat.device)
    x0 = torch.arange(0, w, 2, device=feat.device)
    y1, x1 = (y0 + 1).clamp(max=h - 1), (x0 + 1).clamp(max=w - 1)
    r0, r1 = t[:, y0], t[:, y1]
    return (((r0[:, :, x0] + r0[:, :, x1]) + (r1[:, :, x0] + r1[:, :, x1])) * 0.25).reshape(b, -1, d)


def _assign(fext: Tensor, cand: Tensor, ctr: Tensor) -> Tensor:
    """One assignment: ``fext [B, P, D+1]`` (features and a column of ones), ``cand [P, 9]`` (``K`` = off the
    grid), centres ``ctr [B, K, D]`` → the nearest candidate of each pixel ``[B, P]`` (first minimum)."""
    B, P, _ = fext.shape
    # ||f_p - f_k||^2 = ||f_p||^2 - 2 f_p.f_k + ||f_k||^2; the first term is the same for every
    # candidate, so argmin over  [f_p, 1] . [-2 f_k, ||f_k||^2]  (one gather, one product)
    v = torch.cat([-2.0 * ctr, (ctr * ctr).sum(-1, keepdim=True)], -1)        # [B, K, D+1]
    dummy = torch.zeros(B, 1, v.size(-1), dtype=v.dtype, device=v.device)
    dummy[..., -1] = float("inf")                                               # the off-grid centre never wins
    g = torch.cat([v, dummy], 1)[:, cand]                                       # [B, P, 9, D+1]
    j = (g * fext.unsqueeze(2)).sum(-1).argmin(-1, keepdim=True)                # [B, P, 1]
    return cand.unsqueeze(0).expand(B, P, 9).gather(-1, j).squeeze(-1)


def _update(fext: Tensor, lab: Tensor, ctr: Tensor) -> Tensor:
    """Centres = mean features of their pixels; an empty cluster keeps its centre (it may win pixels back)."""
    B, K, D = ctr.shape
    sums = torch.zeros(B * K, D + 1, dtype=fext.dtype, device=fext.device)
    offs = (torch.arange(B, device=fext.device) * K).view(B, 1)
    sums.index_add_(0, (lab + offs).view(-1), fext.reshape(-1, D + 1))
    sums = sums.view(B, K, D + 1)
    cnt = sums[..., D:]
    return torch.where(cnt > 0, sums[..., :D] / cnt.clamp(min=1), ctr)


def _with_ones(feat: Tensor) -> Tensor:
    return torch.cat([feat, torch.ones(*feat.shape[:2], 1, dtype=feat.dtype, device=feat.device)], -1)


def _cluster_block(feat: Tensor, cand: Tensor, init: Tensor, K: int, max_iter: int,
                   coarse: Optional[tuple[Tensor, Tensor]] = None) -> Tensor:
    """SLIC rounds on one block. ``feat [B, P, D]`` scaled pixel features (colour/m, y/S, x/S),
    ``cand [P, 9]``, ``init [K]`` pixel index of each initial centre. Returns labels ``[B, P]`` in 0..K-1.

    ``coarse = (half [B, Ph, D], cand_half [Ph, 9])``: the rounds (up to ``max_iter`` assignments, each
    followed by a centre update) run on the half-resolution features, then one assignment of ``feat``
    to the final centres gives the labels. Otherwise up to ``max_iter + 1`` assignments of ``feat``."""
    ctr = feat[:, init]                                     # [B, K, D]
    fext = _with_ones(feat)                                 # [B, P, D+1]; last column counts pixels
    if coarse is not None:
        hext, cand_half = _with_ones(coarse[0]), coarse[1]
        lab = None
        for _ in range(max_iter):
            prev, lab = lab, _assign(hext, cand_half, ctr)
            if prev is not None and torch.equal(prev, lab):
                break  # unchanged labels: the centres are final
            ctr = _update(hext, lab, ctr)
        return _assign(fext, cand, ctr)
    lab = None
    for it in range(max_iter + 1):
        prev, lab = lab, _assign(fext, cand, ctr)
        if it == max_iter or (prev is not None and torch.equal(prev, lab)):
            break  # unchanged labels: the same centres, the same labels for ever
        ctr = _update(fext, lab, ctr)
    return lab


def batched_slic(images: Any, n_segments: int = 75, compactness: Optional[float] = None, max_iter: int = 10,
                 chunk: int = _CHUNK, use_cpp: Optional[bool] = None, connectivity: bool = True,
                 coarse: Optional[bool] = None) -> tuple[Tensor, Tensor]:
    r"""SLIC-style superpixels of a batch of same-size images, on the images' device.

    Args:
        images: ``[B, H, W]`` or ``[B, H, W, C]`` (uint8, uint16 or float in
            [0, 1]; numpy or torch, CPU or CUDA).
        n_segments (int): number of regions. With ``connectivity`` exactly
            this many per image whenever the clusters come in at least as many
            4-connected pieces (capped at ``H * W``; fewer pieces: all kept).
            Without it, approximate (scikit-image's grid: 81 cells for 75 on
            28x28; empty clusters are dropped).
        compactness (float, optional): colour/space balance ``m``; ``None``
            picks 10 for RGB (Lab colour) and 0.1 for other channel counts, as
            :func:`~pyg_graphcls.graphs.superpixel_graph` does.
        max_iter (int): assignment/update rounds (scikit-image: 10).
        chunk (int): images clustered together (memory bound; on the compiled
            path also as many as keep their feature planes under 16 MB).
        use_cpp (bool, optional): on CPU, the compiled loop of
            ``csrc/batched_slic.cpp`` (default: when it builds);
            ``False``: the tensor path (the one CUDA runs).
        connectivity (bool): split clusters into 4-connected pieces and merge
            them by Ward's criterion down to ``n_segments``
            (:func:`~pyg_graphcls.graphs.connectivity.connect_regions`, numbered
            in raster order of their first pixel); ``False``: the raw clusters.
        coarse (bool, optional): coarse to fine: the rounds run on the
            half-resolution image (each pixel feature the mean of a 2x2 block;
            centres start on the full-resolution grid pixels), then one
            assignment of the full-resolution pixels to the final centres
            gives the labels (a quarter of the pixels in the rounds). ``None``:
            when the grid step is at least 16 pixels (224x224 with 75
            segments: 26). Its quality beside the full-resolution rounds:
            ``benchmarks/RESULTS.md``.

    Returns:
        ``(labels [B, H, W] int64, counts [B])``: labels ``0..counts[b]-1`` per image.
    """
    raw, img, mod = prepare_images(images, use_cpp)
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
    if coarse is None:
        coarse = step >= _COARSE_MIN
    if mod is not None:
        cand_home, cand_half, init = _cpu_grid(H, W, n_segments)
    else:  # the tensor path keeps K (a dummy centre) for off-grid candidates
        cand = torch.from_numpy(cand_np).to(dev)
        init = torch.from_numpy((cy * W + cx).astype(np.int64)).to(dev)
        if coarse:  # the candidates of each 2x2 block: those of its top-left pixel
            cand_half = cand.view(H, W, 9)[::2, ::2].reshape(-1, 9).contiguous()
        # the tensor path's spatial features (the compiled one writes its own)
        yy, xx = torch.meshgrid(torch.arange(H, device=dev, dtype=torch.float32),
                                torch.arange(W, device=dev, dtype=torch.float32), indexing="ij")
        pix_sp = torch.stack([yy.reshape(-1), xx.reshape(-1)], -1) / step     # [P, 2]
    labels = torch.empty(B, H * W, dtype=torch.long, device=dev)
    if mod is not None:
        # compiled blocks small enough that their planes reuse freed memory: glibc hands blocks over
        # 32 MB back to the system, so each big block page-faulted its planes afresh (224x224
        # photos: 3.1 -> 2.4 ms per image, pixel features and rounds, 16-image blocks against 256)
        chunk = max(1, min(chunk, _BLOCK_BYTES // (H * W * (C + 2) * 4)))
        # one feature buffer for every block, and the labels written in place (SLIC, then connected
        # regions): fresh buffers per block were page-faulted afresh each time (glibc maps buffers of
        # several MB directly and unmaps them when freed). 224x224 photos, 128 per call: 3238 -> 3087
        # us of CPU per photo for the whole conversion (_convert_one, one thread), the same labels
        feat_buf = torch.empty(min(chunk, B), C + 2, H * W, dtype=torch.float32)
    counts = torch.empty(B, dtype=torch.long, device=dev)
    for s in range(0, B, chunk):
        block = img[s:s + chunk]
        b = block.size(0)
        if mod is not None:
            out = labels[s:s + b]
            feat = mod.pixel_features(block, float(compactness), float(step), C == 3, out=feat_buf[:b])  # [b, C + 2, P]
            if coarse:
                mod.slic_labels_coarse(feat, cand_home, cand_half, init, H, W, int(max_iter), out=out)
            else:
                mod.slic_labels(feat, cand_home, init, W, int(max_iter), step < _RUN_MIN, out=out)
            if connectivity:  # block by block too, while its labels are in cache
                res, counts[s:s + b] = connect_regions(out, block, n_segments, mod, out=out)
                if res.data_ptr() != out.data_ptr():  # a path that made its own tensor
                    out.copy_(res.view(b, -1))
        else:
            col = rgb_to_lab(block, raw[s:s + chunk] if raw.dtype == torch.uint8 else None) if C == 3 else block
            feat = torch.cat([col.reshape(b, H * W, C) / compactness, pix_sp.unsqueeze(0).expand(b, -1, -1)], -1)
            half = (_half_planes(feat, H, W), cand_half) if coarse else None
            labels[s:s + b] = _cluster_block(feat, cand, init, K, max_iter, half)
    if connectivity:
        return (labels.view(B, H, W), counts) if mod is not None else connect_regions(labels, img, n_segments, mod)
    # renumber the clusters that hold pixels to 0..n-1, keeping their order
    present = torch.zeros(B, K, dtype=torch.bool, device=dev)
    present.scatter_(1, labels, True)
    new_id = present.long().cumsum(1) - 1
    labels = new_id.gather(1, labels)
    return labels.view(B, H, W), present.sum(1)
