r"""Connected regions for a batch of label maps: split into 4-connected pieces, merge by Ward's criterion.

SLIC's clustering alone does not give connected regions: a cluster may own a
few pixels cut off from its main body (on 28x28 Fashion-MNIST digits the 81
clusters of ``n_segments=75`` come in about 117 pieces). scikit-image fixes
this with a sequential flood fill that absorbs every fragment smaller than
half a segment into whichever neighbour it meets first, whatever its colour,
and returns however many segments are left. :func:`connect_regions` instead,
for every image of a batch:

1. splits the label map into its 4-connected pieces of equal label; the
   largest piece of each label (ties: the first in raster order) is its
   *main* piece, the others are *fragments*;
2. while more than ``n_regions`` regions are left, merges two touching
   regions :math:`i, j`: first any pair that involves a region holding no
   main piece (fragments are absorbed before two main pieces ever merge),
   and among those the pair that adds the least squared error to the
   mean-colour picture (Ward's criterion, colour in the image's own values
   in [0, 1]):

   .. math::
       \Delta_{ij} = \frac{n_i n_j}{n_i + n_j} \lVert \mu_i - \mu_j \rVert^2 ,

   ties to the pair with the smaller ids (piece ids in raster order of their
   first pixel; a merged region keeps the smaller id);
3. numbers the regions ``0..n-1`` in raster order of their first pixel.

The rule for the count: an image whose label map has at least ``n_regions``
pieces gets exactly ``n_regions`` regions (fragments that are not needed to
reach the count are absorbed into their cheapest neighbour; when the main
pieces alone are fewer than ``n_regions``, the cheapest fragments are left
as regions of their own); one with fewer pieces keeps every piece (no piece
is ever split), so it has fewer regions than asked. Every region is one
4-connected piece in both cases.

On CPU the compiled loop of ``csrc/batched_slic.cpp`` (``connect_regions``,
parallel over images) does it; otherwise (``PYG_GRAPHCLS_NO_CPP=1``, no
compiler, CUDA tensors) the same steps run image by image in numpy and
:mod:`heapq` on the host (the merge is a sequential heap). Both give the same
labels: the same float64 arithmetic in the same order and the same ties.
"""
from __future__ import annotations

from typing import Optional


import numpy as np
import torch
from torch import Tensor

from ..errors import GraphclsError
from .merge import connected_pieces, merge_pieces, number_regions, touching_pairs

__all__ = ["connect_regions"]


def connect_regions(labels: Tensor, images: Tensor, n_regions: int, mod: Optional[object] = None,
                    out: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
    r"""Make every region of every label map one 4-connected piece, ``n_regions`` of them when possible.

    Args:
        labels (Tensor): ``[B, H, W]`` or ``[B, H * W]`` integer labels (any values).
        images (Tensor): ``[B, H, W, C]`` the colours merged by: float32 in [0, 1], or uint8
            (read as ``value / 255`` in float32, as :func:`~pyg_graphcls.graphs.batched_slic.as_image_batch`).
        n_regions (int): regions to keep per image (fewer where an image has fewer pieces).
        mod (optional): the compiled module (:func:`~pyg_graphcls.graphs._compiled.load`);
            ``None``: the per-image host path.
        out (Tensor, optional): compiled path only: a contiguous int64 ``[B, H * W]`` CPU tensor to
            write the labels into (``labels`` itself too); ignored by the host path.

    Returns:
        ``(labels [B, H, W] int64, counts [B] int64)`` on the device of ``labels``: values
        ``0..counts[b]-1`` numbered in raster order of their first pixel.

    Shapes:
        - **input:** labels :math:`(B, H, W)`, images :math:`(B, H, W, C)`
        - **output:** :math:`(B, H, W)`, :math:`(B,)`
    """
    if images.dim() != 4:
        raise GraphclsError(f"images must be [B, H, W, C], got shape {tuple(images.shape)}")
    B, H, W, C = images.shape
    if labels.numel() != B * H * W:
        raise GraphclsError(f"labels must hold B*H*W = {B * H * W} values, got shape {tuple(labels.shape)}")
    if int(n_regions) < 1:
        raise GraphclsError(f"n_regions must be >= 1, got {n_regions}")
    dev = labels.device
    lab = labels.reshape(B, H * W).long()
    if mod is not None and dev.type == "cpu" and images.device.type == "cpu" \
            and images.dtype in (torch.uint8, torch.float32):
        res, counts = mod.connect_regions(lab.contiguous(), images.contiguous(), int(n_regions), out=out)
        return res.view(B, H, W), counts
    img = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    lab_np = lab.view(B, H, W).cpu().numpy()
    img_np = img.cpu().numpy()
    out = np.empty((B, H, W), np.int64)
    counts = np.empty(B, np.int64)
    for b in range(B):
        out[b] = _connect_one(lab_np[b], img_np[b].astype(np.float64), int(n_regions))
        counts[b] = int(out[b].max()) + 1
    return torch.from_numpy(out).to(dev), torch.from_numpy(counts).to(dev)


def _connect_one(seg: np.ndarray, img: np.ndarray, n_regions: int) -> np.ndarray:
    """One image, host path: ``seg [H, W]`` labels, ``img [H, W, C]`` float64 -> ``[H, W]`` int64 regions."""
    pieces = connected_pieces(seg)
    p = int(pieces.max()) + 1
    flat = pieces.ravel()
    parent = list(range(p))
    if n_regions < p:
        cnt = np.bincount(flat, minlength=p).astype(np.float64)
        sums = np.stack([np.bincount(flat, weights=img[..., c].ravel(), minlength=p)
                         for c in range(img.shape[2])], 1)
        # main piece of each label: the largest, ties to the first in raster order
        first = np.full(p, flat.size, np.int64)
        np.minimum.at(first, flat, np.arange(flat.size))
        owner = seg.ravel()[first]
        order = np.lexsort((np.arange(p), -cnt, owner))
        main = np.zeros(p, bool)
        keep = np.ones(p, bool)
        keep[1:] = owner[order][1:] != owner[order][:-1]
        main[order[keep]] = True
        C = img.shape[2]

        def cost(i: int, j: int) -> float:
            dd = 0.0
            for c in range(C):  # the compiled loop's order of operations
                d = float(sums[i, c]) / float(cnt[i]) - float(sums[j, c]) / float(cnt[j])
                dd += d * d
            return float(cnt[i]) * float(cnt[j]) / (float(cnt[i]) + float(cnt[j])) * dd

        parent = merge_pieces(cnt, sums, touching_pairs(pieces), n_regions, cost, main)
    return number_regions(pieces, parent)
