"""Superpixel quality against a reference segmentation: boundary recall, under-segmentation error.

Used to compare :func:`~pyg_graphcls.graphs.batched_slic.batched_slic` with
scikit-image's ``slic`` on the same images (the reference plays the part of
the ground truth). Both measures are the usual ones of the superpixel
literature (Neubert & Protzel 2012):

- boundary recall: the fraction of reference boundary pixels that have a
  boundary pixel of the tested segmentation within ``tol`` pixels (Chebyshev
  distance); 1 is best.
- under-segmentation error: :math:`\\frac1N \\sum_G \\sum_{S \\cap G \\ne \\emptyset}
  \\min(|S \\cap G|, |S \\setminus G|)` over reference segments ``G`` and
  tested segments ``S``: the pixels a superpixel would have to give up to fit
  inside the reference segments; 0 is best.

Without a reference: :func:`mean_colour_rmse`, how far the picture that paints every
segment with its mean colour (what a graph's ``mean`` column describes) is from the
image, and :func:`explained_variation` (Moore et al. 2008), the share of the image's
variance that picture keeps.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import GraphclsError

__all__ = ["boundary_map", "boundary_recall", "undersegmentation_error", "segment_count", "mean_colour_picture",
           "mean_colour_rmse", "explained_variation"]


def _as_seg(seg: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(seg) if not isinstance(seg, torch.Tensor) else seg)
    if t.dim() != 2 or t.numel() == 0:
        raise GraphclsError(f"{name} must be a non-empty [H, W] label map, got shape {tuple(t.shape)}")
    return t.long()


def boundary_map(seg: Any) -> torch.Tensor:
    """``[H, W]`` bool: pixels with a 4-neighbour of another label."""
    s = _as_seg(seg, "seg")
    b = torch.zeros_like(s, dtype=torch.bool)
    dh = s[:, 1:] != s[:, :-1]
    dv = s[1:, :] != s[:-1, :]
    b[:, 1:] |= dh
    b[:, :-1] |= dh
    b[1:, :] |= dv
    b[:-1, :] |= dv
    return b


def boundary_recall(seg: Any, ref: Any, tol: int = 1) -> float:
    """Fraction of ``ref``'s boundary pixels within ``tol`` pixels of a boundary of ``seg`` (1.0 if ``ref`` has none)."""
    s, r = _as_seg(seg, "seg"), _as_seg(ref, "ref")
    if s.shape != r.shape:
        raise GraphclsError(f"seg {tuple(s.shape)} and ref {tuple(r.shape)} differ in shape")
    rb = boundary_map(r)
    if not rb.any():
        return 1.0
    sb = boundary_map(s).float()[None, None]
    near = F.max_pool2d(sb, 2 * tol + 1, stride=1, padding=tol)[0, 0] > 0 if tol > 0 else sb[0, 0] > 0
    return float((near & rb).sum()) / float(rb.sum())


def undersegmentation_error(seg: Any, ref: Any) -> float:
    """Neubert & Protzel's under-segmentation error of ``seg`` w.r.t. ``ref`` (0 = no leakage)."""
    s, r = _as_seg(seg, "seg"), _as_seg(ref, "ref")
    if s.shape != r.shape:
        raise GraphclsError(f"seg {tuple(s.shape)} and ref {tuple(r.shape)} differ in shape")
    s = torch.unique(s, return_inverse=True)[1].view(-1)
    r = torch.unique(r, return_inverse=True)[1].view(-1)
    ns, nr = int(s.max()) + 1, int(r.max()) + 1
    inter = torch.bincount(s * nr + r, minlength=ns * nr).view(ns, nr)   # |S ∩ G|
    size = inter.sum(1, keepdim=True)                                       # |S|
    err = torch.minimum(inter, size - inter)[inter > 0].sum()
    return float(err) / float(s.numel())


def segment_count(seg: Any) -> int:
    """Number of distinct labels."""
    return int(torch.unique(_as_seg(seg, "seg")).numel())


def _as_hwc(image: Any) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    return img[..., None] if img.ndim == 2 else img


def mean_colour_picture(seg: Any, image: Any) -> np.ndarray:
    """``[H, W, C]`` float64: every pixel set to its segment's mean of ``image [H, W(, C)]``."""
    s = _as_seg(seg, "seg").numpy()
    img = _as_hwc(image)
    if img.shape[:2] != s.shape:
        raise GraphclsError(f"seg {s.shape} and image {np.asarray(image).shape} differ in size")
    _, lab = np.unique(s.ravel(), return_inverse=True)
    cnt = np.bincount(lab).astype(np.float64)
    means = np.stack([np.bincount(lab, weights=img[..., c].ravel()) / cnt for c in range(img.shape[2])], 1)
    return means[lab].reshape(img.shape)


def mean_colour_rmse(seg: Any, image: Any) -> float:
    """Root mean squared difference (in the image's units) between ``image`` and its mean-colour picture."""
    img = _as_hwc(image)
    return float(np.sqrt(((mean_colour_picture(seg, img) - img) ** 2).mean()))


def explained_variation(seg: Any, image: Any) -> float:
    """``1 - SSE(mean-colour picture) / SSE(image mean)``: 1 for a perfect picture (1.0 for a flat image)."""
    img = _as_hwc(image)
    total = ((img - img.reshape(-1, img.shape[2]).mean(0)) ** 2).sum()
    if total == 0:
        return 1.0
    return float(1.0 - ((mean_colour_picture(seg, img) - img) ** 2).sum() / total)
