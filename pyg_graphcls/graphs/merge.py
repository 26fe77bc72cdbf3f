r"""Region merging: connected superpixels, exactly as many as asked, at the least loss of detail.

scikit-image's SLIC makes its segments connected by absorbing every fragment smaller than
``min_size_factor`` times the mean segment size into a neighbour, whichever it meets first and
whatever its colour. On small images that is much of the detail (compare the mean-colour
pictures with ``python -m benchmarks.conversion --merge``). :func:`ward_merge` instead takes the connected
pieces and merges, one pair of touching regions at a time, the pair whose merge adds the least
squared error to the mean-colour picture (Ward's criterion,
:math:`\frac{n_i n_j}{n_i + n_j} \lVert \mu_i - \mu_j \rVert^2`), until ``n_regions`` are left.
Every region stays 4-connected, and a graph gets ``n_regions`` nodes whenever the image has at
least that many pieces (a fixed node count, as in PyG's ``MNISTSuperpixels``).

Written here because scikit-image's ``graph.merge_hierarchical`` stops at a cost threshold, not
at a region count, and re-weights through Python callbacks per edge (slower for this use).
"""
from __future__ import annotations

import heapq
from typing import Callable, Optional

import numpy as np

from ..errors import GraphclsError

__all__ = ["ward_merge", "connected_pieces", "touching_pairs", "merge_pieces", "number_regions"]


def connected_pieces(seg: np.ndarray) -> np.ndarray:
    """``seg [H, W]`` split into its 4-connected pieces of equal label, numbered ``0..P-1``
    in raster order of their first pixel."""
    from skimage.measure import label
    return (label(np.asarray(seg) + 1, connectivity=1, background=0) - 1).astype(np.int64)


def ward_merge(seg: np.ndarray, image: np.ndarray, n_regions: int) -> np.ndarray:
    """Merge touching regions of ``seg`` (split first into connected pieces) down to ``n_regions``.

    Args:
        seg: ``[H, W]`` integer labels.
        image: ``[H, W]`` or ``[H, W, C]`` values the colour means are taken of.
        n_regions: regions to keep (fewer only if there are fewer pieces).

    Returns:
        ``[H, W]`` int64 labels ``0..n-1``, each region 4-connected, numbered in raster order
        of their first pixel. Deterministic: ties go to the pair with the smaller ids.
    """
    seg = np.asarray(seg)
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 2:
        img = img[..., None]
    if seg.ndim != 2 or img.ndim != 3 or img.shape[:2] != seg.shape:
        raise GraphclsError(f"ward_merge needs seg [H, W] and image [H, W(, C)] of the same size, got "
                            f"{seg.shape} and {np.asarray(image).shape}")
    if int(n_regions) < 1:
        raise GraphclsError(f"n_regions must be >= 1, got {n_regions}")
    pieces = connected_pieces(seg)
    p = int(pieces.max()) + 1
    flat = pieces.ravel()
    cnt = np.bincount(flat, minlength=p).astype(np.float64)
    sums = np.stack([np.bincount(flat, weights=img[..., c].ravel(), minlength=p) for c in range(img.shape[2])], 1)

    def cost(i: int, j: int) -> float:
        d = sums[i] / cnt[i] - sums[j] / cnt[j]
        return float(cnt[i] * cnt[j] / (cnt[i] + cnt[j]) * (d @ d))

    parent = merge_pieces(cnt, sums, touching_pairs(pieces), int(n_regions), cost)
    return number_regions(pieces, parent)


def touching_pairs(pieces: np.ndarray) -> list[tuple[int, int]]:
    """The pairs of 4-neighbouring pieces of ``pieces [H, W]`` (ids ``0..P-1``), each once as
    ``(small, large)``, sorted."""
    p = int(pieces.max()) + 1
    a = np.concatenate([pieces[:, :-1].ravel(), pieces[:-1, :].ravel()])
    b = np.concatenate([pieces[:, 1:].ravel(), pieces[1:, :].ravel()])
    diff = a != b
    codes = np.unique(np.minimum(a[diff], b[diff]) * p + np.maximum(a[diff], b[diff]))
    return [(int(e) // p, int(e) % p) for e in codes]


def merge_pieces(cnt: np.ndarray, sums: np.ndarray, pairs: list[tuple[int, int]], n_regions: int,
                 cost: Callable[[int, int], float], main: Optional[np.ndarray] = None) -> list[int]:
    """Greedy merging of touching pieces, cheapest ``cost(i, j)`` first, until ``n_regions`` are left.

    ``cnt [P]`` and ``sums [P, C]`` (pixel counts and value sums, updated in place as pieces join:
    ``cost`` reads them) and ``pairs`` from :func:`touching_pairs`. With ``main [P]`` (bool, updated
    in place) a pair touching a non-main piece goes before any pair of two main pieces. A heap with
    lazy deletion; ties go to the pair with the smaller ids. Returns the union-find ``parent`` list
    (``j`` joined ``i`` where ``parent[j] == i``).
    """
    p = cnt.shape[0]
    nbrs: list[set[int]] = [set() for _ in range(p)]
    for i, j in pairs:
        nbrs[i].add(j)
        nbrs[j].add(i)

    def both_main(i: int, j: int) -> int:
        return int(main[i] and main[j]) if main is not None else 0

    version = [0] * p
    heap = [(both_main(i, j), cost(i, j), i, j, 0, 0) for i, j in pairs]
    heapq.heapify(heap)
    parent = list(range(p))
    alive = p
    while alive > n_regions and heap:
        _, _, i, j, vi, vj = heapq.heappop(heap)
        if version[i] != vi or version[j] != vj or parent[i] != i or parent[j] != j:
            continue  # stale: one of the two changed or was merged since this entry was pushed
        parent[j] = i  # j joins i
        if main is not None:
            main[i] = main[i] or main[j]
        cnt[i] += cnt[j]
        sums[i] += sums[j]
        version[i] += 1
        nbrs[i] |= nbrs[j]
        nbrs[i] -= {i, j}
        for k in nbrs[j]:
            if k != i:
                nbrs[k].discard(j)
                nbrs[k].add(i)
        nbrs[j] = set()
        alive -= 1
        for k in nbrs[i]:
            lo, hi = (i, k) if i < k else (k, i)
            heapq.heappush(heap, (both_main(lo, hi), cost(lo, hi), lo, hi, version[lo], version[hi]))
    return parent


def number_regions(pieces: np.ndarray, parent: list[int]) -> np.ndarray:
    """``[H, W]`` int64 region ids ``0..n-1`` of ``pieces`` after the merges in ``parent``, numbered in
    raster order of each region's first pixel."""
    roots = np.array(parent, dtype=np.int64)
    while True:  # path halving to the roots
        nxt = roots[roots]
        if np.array_equal(nxt, roots):
            break
        roots = nxt
    merged = roots[pieces.ravel()]
    _, first_px = np.unique(merged, return_index=True)
    ids = np.unique(merged)
    relabel = np.empty(len(parent), np.int64)
    relabel[ids[np.argsort(first_px)]] = np.arange(ids.size)
    return relabel[merged].reshape(pieces.shape)
