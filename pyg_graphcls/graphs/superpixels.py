r"""Superpixel graphs: one pipeline, segment → region features → edges, whichever segmenter.

Segmenters: the batched SLIC (``method="fast"``, the default,
:mod:`~pyg_graphcls.graphs.batched_slic`, a whole batch per call, its regions
made connected and exactly ``n_segments`` by Ward merging,
:mod:`~pyg_graphcls.graphs.connectivity`) or scikit-image's SLIC
(``method="skimage"``, the reference, one image per call, optionally followed
by Ward merging, :mod:`~pyg_graphcls.graphs.merge`). Both label maps go through the same
:func:`~pyg_graphcls.graphs.features.region_features` and the same
:func:`~pyg_graphcls.graphs.edges.knn_graph`, so for the same labels the two
paths give the same graph to the bit.

Node positions ``pos`` are region centroids (``node_pos="interior"``: each
region's pixel nearest its centroid) in **pixel units**, ``(column, row)`` =
``(x, y)`` with pixel (0, 0)'s centre at (0, 0) and y pointing down — the
layout of PyG's ``ToSLIC`` and ``MNISTSuperpixels`` — so a model trained on our
graphs reads theirs and :func:`pyg_graphcls.viz.draw_graph` draws both over the
image. Every graph carries ``image_size [1, 2]`` = ``(H, W)``.

Default compactness (:func:`~pyg_graphcls.graphs.batched_slic.default_compactness`):
10 for colour images (SLIC works in Lab, 0-100), 0.1 for single-channel ones.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import GraphclsError
from ._common import graph_fields, image_size_tensor, to_data
from .batched_slic import _CHUNK, batched_slic, compiled_module, default_compactness, prepare_images
from .edges import edge_features, knn_graph, region_adjacency
from .features import check_features, region_features
from .image import as_image
from .storage import merge_storage, storage_to_list

if TYPE_CHECKING:
    from torch_geometric.data import Data

__all__ = ["superpixel_graph", "superpixel_fields", "superpixel_graphs", "slic_segments", "graph_from_segments",
           "fields_from_segments", "segment_features",
           "segments_to_storage", "interior_points", "POSITIONS", "METHODS"]

POSITIONS = ("centroid", "interior")
#: segmenters of :func:`superpixel_graph`, the default first
METHODS = ("fast", "skimage")


def slic_segments(img: np.ndarray, n_segments: int, compactness: Optional[float] = None,
                  **slic_kwargs: Any) -> np.ndarray:
    """SLIC labels ``[H, W]`` (int64, consecutive from 0) for an ``[H, W, C]`` image in [0, 1].

    scikit-image's ``slic`` converts RGB to Lab itself (``convert2lab``): the
    image goes in as it is, so its labels stay scikit-image's own.
    """
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


def segment_features(img: np.ndarray, seg: np.ndarray, features: Sequence[str] = ("mean", "centroid")
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Region features of one image: :func:`~pyg_graphcls.graphs.features.region_features` on numpy arrays.

    Args:
        img: ``[H, W, C]`` float in [0, 1].
        seg: ``[H, W]`` integer labels ``0..n-1``.
        features: feature names, in column order.

    Returns:
        ``(x [n, F] float32, pos [n, 2] float32)``, ``pos`` the centroids ``(x, y)`` in pixels.
    """
    img = np.asarray(img)
    seg = np.asarray(seg)
    if img.ndim != 3 or seg.shape != img.shape[:2]:
        raise GraphclsError(f"segment_features needs img [H, W, C] and seg [H, W], got {img.shape} and {seg.shape}")
    x, pos = region_features(torch.from_numpy(np.ascontiguousarray(img))[None],
                             torch.from_numpy(np.ascontiguousarray(seg)).view(1, -1).long(),
                             torch.tensor([int(seg.max()) + 1]), features)
    return x.numpy(), pos.float().numpy()


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
    """The graph of a segmentation ``seg [H, W]`` (labels ``0..n-1``) of ``img [H, W, C]`` in [0, 1].

    The arguments are those of :func:`superpixel_graph`.
    """
    return to_data(fields_from_segments(img, seg, features=features, edges=edges, k=k, undirected=undirected,
                                        edge_attr=edge_attr, y=y, return_seg=return_seg, return_img=return_img,
                                        node_pos=node_pos))


def fields_from_segments(img: np.ndarray, seg: np.ndarray, *, features: Sequence[str] = ("mean", "centroid"),
                         edges: str = "knn", k: int = 8, undirected: bool = False,
                         edge_attr: Sequence[str] = ("distance",), y: Any = None,
                         return_seg: bool = False, return_img: bool = False, node_pos: str = "centroid") -> dict:
    """The graph of :func:`graph_from_segments` as a dict of its fields (what a conversion stores)."""
    if node_pos not in POSITIONS:
        raise GraphclsError(f"node_pos must be one of {POSITIONS}, got {node_pos!r}")
    n = int(seg.max()) + 1
    x_t, pos64 = region_features(torch.from_numpy(img)[None], torch.from_numpy(seg).view(1, -1).long(),
                                 torch.tensor([n]), features)
    pos_t = pos64.float()
    if node_pos == "interior":
        pos_t = torch.from_numpy(interior_points(seg, pos_t.numpy()))
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
    fields = graph_fields(img, x_t, pos_t, edge_index, edge_attr=edge_attr, y=y, return_img=return_img)
    if return_seg:
        fields["seg"] = torch.from_numpy(seg).view(1, *seg.shape)
    return fields


def superpixel_graph(image: Any, n_segments: int = 75, *, compactness: Optional[float] = None,
                     features: Sequence[str] = ("mean", "centroid"), edges: str = "knn", k: int = 8,
                     undirected: bool = False, edge_attr: Sequence[str] = ("distance",), y: Any = None,
                     return_seg: bool = False, return_img: bool = False,
                     slic_kwargs: Optional[dict] = None, method: str = "fast",
                     merge: Optional[str] = None, node_pos: str = "centroid") -> Data:
    r"""Convert one image to a graph of its SLIC superpixels.

    Args:
        image: ``[H, W]``, ``[H, W, C]`` or ``[C, H, W]``; uint8, uint16 or float
            in [0, 1] (numpy or torch). Any size.
        n_segments (int): number of regions (capped at the number of
            pixels). ``method="fast"``: exactly this many whenever the SLIC
            clusters come in at least as many 4-connected pieces, else every
            piece (:mod:`~pyg_graphcls.graphs.connectivity`); ``"skimage"``:
            approximate (SLIC may return a few more or fewer).
        compactness (float, optional): SLIC colour/space balance; ``None`` picks
            10 for colour and 0.1 for grayscale (see the module docstring).
        features: node features in ``x``, from ``"mean"`` (per channel),
            ``"std"`` (per channel), ``"centroid"`` (x/W, y/H), ``"area"``
            (fraction of pixels), ``"bbox"`` (x0, y0, x1, y1, normalised),
            ``"moments"`` (region shape), ``"gradient"`` (value slope per
            channel), ``"occupancy"`` (9: the region's coarse mask in its
            bounding box); see :mod:`~pyg_graphcls.graphs.features`.
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
        slic_kwargs (dict): extra arguments for ``skimage.segmentation.slic``
            (``method="fast"``: only ``max_iter``).
        method (str): ``"fast"`` (default: the batched SLIC of
            :mod:`~pyg_graphcls.graphs.batched_slic`, connected regions merged
            by Ward's criterion to ``n_segments``; a data set converts whole
            chunks per call with it) or ``"skimage"`` (scikit-image's ``slic``,
            the reference).
        merge (str, optional): ``method="skimage"`` only (``"fast"`` always
            merges this way, and accepts ``"ward"`` or ``None``). ``"ward"``: instead of SLIC's own connectivity
            step (which absorbs small fragments into whichever neighbour it
            meets), split the SLIC labels into connected pieces and merge
            touching pieces by Ward's criterion down to ``n_segments`` regions
            (:func:`~pyg_graphcls.graphs.merge.ward_merge`): connected regions,
            ``n_segments`` of them when the image has that many pieces, each
            merge the one that adds the least squared error to the
            mean-colour picture. ``None``: SLIC's step.
        node_pos (str): ``pos`` of each node, from which kNN edges, edge
            features and the models' geometry follow: ``"centroid"`` (the
            default, as PyG's ``ToSLIC``) or ``"interior"``: the region's pixel
            nearest its centroid (:func:`interior_points`), which lies inside
            the region where a centroid may not (a ring, a background around
            an object). The ``centroid`` feature columns stay the centroid.

    Returns:
        ``Data(x [n, F], pos [n, 2], edge_index [2, E], edge_attr [E, D], y, image_size [1, 2], seg?, img?)``
    """
    return to_data(superpixel_fields(image, n_segments, compactness=compactness, features=features, edges=edges,
                                     k=k, undirected=undirected, edge_attr=edge_attr, y=y, return_seg=return_seg,
                                     return_img=return_img, slic_kwargs=slic_kwargs, method=method, merge=merge,
                                     node_pos=node_pos))


def superpixel_fields(image: Any, n_segments: int = 75, *, compactness: Optional[float] = None,
                      features: Sequence[str] = ("mean", "centroid"), edges: str = "knn", k: int = 8,
                      undirected: bool = False, edge_attr: Sequence[str] = ("distance",), y: Any = None,
                      return_seg: bool = False, return_img: bool = False,
                      slic_kwargs: Optional[dict] = None, method: str = "fast",
                      merge: Optional[str] = None, node_pos: str = "centroid") -> dict:
    """The graph of :func:`superpixel_graph` as a dict of its fields (what a conversion stores)."""
    img = as_image(image)
    if method not in METHODS:
        raise GraphclsError(f"method must be one of {METHODS}, got {method!r}")
    if merge not in (None, "ward"):
        raise GraphclsError(f"merge must be None or 'ward', got {merge!r}")
    if method == "fast":
        extra = set(slic_kwargs or {}) - {"max_iter"}
        if extra:
            raise GraphclsError(f"method='fast' takes only max_iter from slic_kwargs, got {sorted(extra)}")
        lab, _ = batched_slic(img[None], n_segments, compactness, **(slic_kwargs or {}))
        seg = lab[0].numpy()
    elif merge == "ward":
        from .merge import ward_merge
        kw = {**(slic_kwargs or {}), "enforce_connectivity": False}
        regions = max(1, min(int(n_segments), img.shape[0] * img.shape[1]))
        seg = ward_merge(slic_segments(img, n_segments, compactness, **kw), img, regions)
    else:
        seg = slic_segments(img, n_segments, compactness, **(slic_kwargs or {}))
    return fields_from_segments(img, seg, features=features, edges=edges, k=k, undirected=undirected,
                                edge_attr=edge_attr, y=y, return_seg=return_seg, return_img=return_img,
                                node_pos=node_pos)


def segments_to_storage(images: Any, labels: Tensor, counts: Optional[Tensor] = None, y: Any = None, *,
                        features: Sequence[str] = ("mean", "centroid"), k: int = 8,
                        edge_attr: Sequence[str] = ("distance",), use_cpp: Optional[bool] = None
                        ) -> tuple[dict, dict]:
    """Node features, kNN edges and labels of a batch of segmentations, collated.

    Graph ``b`` equals ``graph_from_segments(image_b, labels_b, features=...,
    k=..., edge_attr=...)``: the same :func:`~pyg_graphcls.graphs.features.region_features`
    and :func:`~pyg_graphcls.graphs.edges.knn_graph`, run over the whole batch.

    Args:
        images: ``[B, H, W]`` or ``[B, H, W, C]`` (uint8, uint16 or float in [0, 1]).
        labels (Tensor): ``[B, H, W]``, values ``0..counts[b]-1``.
        counts (Tensor, optional): regions per image ``[B]`` (default: ``max + 1``).
        y: optional ``[B]`` class ids.
        features, k, edge_attr: as :func:`superpixel_graph`.
        use_cpp (bool, optional): the compiled per-segment sums (see :func:`batched_slic`).

    Returns:
        ``(data, slices)`` in :class:`~torch_geometric.data.InMemoryDataset`
        layout (local node indices in ``edge_index``): ``x``, ``pos``,
        ``edge_index``, ``edge_attr``, ``y`` and ``image_size`` ``[B, 2]``.
    """
    features = check_features(features)
    _, img, mod = prepare_images(images, use_cpp)
    B, H, W, C = img.shape
    dev = img.device
    lab = torch.as_tensor(labels, device=dev).long().reshape(B, H * W)
    lab_max = lab.max(1).values
    counts = lab_max + 1 if counts is None else counts.to(dev).long()
    if int(lab.min()) < 0 or bool((lab_max >= counts).any()):
        raise GraphclsError("labels must lie in 0..counts[b]-1 for each image")
    x, pos = region_features(img, lab, counts, features, mod)
    pos = pos.float()
    batch = torch.repeat_interleave(torch.arange(B, device=dev), counts)
    edge_index = knn_graph(pos, k, batch=batch)                      # global indices
    if edge_index.size(1) > 1 and not bool((edge_index[1, 1:] >= edge_index[1, :-1]).all()):
        edge_index = edge_index[:, torch.argsort(edge_index[1], stable=True)]  # by target (a library may not)
    node_ptr = torch.zeros(B + 1, dtype=torch.long, device=dev)
    node_ptr[1:] = counts.cumsum(0)
    n_edges = torch.bincount(batch[edge_index[1]], minlength=B)
    edge_ptr = torch.zeros(B + 1, dtype=torch.long, device=dev)
    edge_ptr[1:] = n_edges.cumsum(0)
    ea = edge_features(pos, edge_index, edge_attr, scale=float(max(H, W)))
    edge_index = edge_index - node_ptr[batch[edge_index[1]]]        # local indices (InMemoryDataset layout)
    data = {"x": x, "pos": pos, "edge_index": edge_index}
    slices = {"x": node_ptr, "pos": node_ptr.clone(), "edge_index": edge_ptr}
    if ea is not None:
        data["edge_attr"] = ea
        slices["edge_attr"] = edge_ptr.clone()
    if y is not None:
        yt = torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y).long().view(-1).to(dev)
        if yt.numel() != B:
            raise GraphclsError(f"{B} images but {yt.numel()} labels")
        data["y"] = yt
        slices["y"] = torch.arange(B + 1, device=dev)
    data["image_size"] = image_size_tensor(H, W, dev).expand(B, 2).clone()
    slices["image_size"] = torch.arange(B + 1, device=dev)
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
    check_features(features)
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
            compiled_module(torch.device("cpu"), use_cpp)  # build/load once before forking
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as pool:
            out = list(pool.map(_block_job, jobs))
        return out  # numpy blocks: merge_storage wraps them
    return [_convert_one(*job) for job in jobs]
