r"""Graph augmentation for image graphs: flip, rotation and jitter of ``pos``, node dropping.

Apply to **training** data only, e.g. ``train_subset.transform = GraphAugment(...)``
(``graphcls train --augment KEY=VALUE`` does this:
:func:`pyg_graphcls.train.data.training_data`). Every change to ``pos`` is carried to what depends on it:

- ``edge_attr`` is recomputed from the new ``pos`` with the builder's
  :func:`~pyg_graphcls.graphs.edges.edge_features` (give the same ``edge_attr``
  names the graphs were built with);
- the position columns of ``x`` named in ``features`` (the names of
  :func:`~pyg_graphcls.graphs.features.feature_names`) follow:
  ``centroid_x``/``centroid_y`` become ``pos / (W - 1, H - 1)``; a bounding box
  (``bbox_x0`` ... ``bbox_y1``) is mirrored by a flip and otherwise moved with
  its centroid (a rotated box is not axis-aligned: translating it is the
  approximation used); region shape (``moment_*``), value slope
  (``grad_*``) and occupancy (``occ_*``) columns are mirrored and turned with
  the image.

The image size ``(H, W)`` comes from each graph's ``image_size [1, 2]``, which
every builder of this package stores (flips mirror about ``(W - 1) / 2``,
rotations turn about the image centre, distances are over ``max(H, W)``).

Why these: Fashion-MNIST items are left/right symmetric classes (a shoe
pointing left is still a shoe), so a horizontal flip is label-preserving; small
rotations and sub-pixel jitter model pose noise; dropping a few superpixels
models a different segmentation of the same image. Vertical flips are off by
default (a trouser upside down is not a natural image).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform
from torch_geometric.utils import subgraph

from ..errors import GraphclsError
from ._common import image_size_of
from .edges import EDGE_FEATURES, edge_features
from .features import correlation

__all__ = ["GraphAugment", "flip_pos", "rotate_pos", "drop_nodes"]

_BBOX = ("bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1")


def flip_pos(pos: torch.Tensor, width: float) -> torch.Tensor:
    r"""Mirror ``(x, y)`` pixel positions left/right in an image ``width`` pixels wide:
    :math:`x' = (W - 1) - x`."""
    out = pos.clone()
    out[:, 0] = (width - 1) - out[:, 0]
    return out


def rotate_pos(pos: torch.Tensor, degrees: float, image_size: Union[float, Sequence[float]]) -> torch.Tensor:
    r"""Rotate ``(x, y)`` pixel positions by ``degrees`` about the centre of an image of
    ``image_size = (H, W)`` (one number: a square image): :math:`p' = R (p - c) + c` with
    :math:`c = ((W-1)/2, (H-1)/2)` and :math:`R` the rotation matrix."""
    h, w = (float(image_size),) * 2 if isinstance(image_size, (int, float)) else (float(v) for v in image_size)
    c = torch.tensor([(w - 1) / 2, (h - 1) / 2], dtype=pos.dtype)
    a = math.radians(degrees)
    rot = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=pos.dtype)
    return (pos - c) @ rot.T + c


def drop_nodes(data: Data, p: float, generator: Optional[torch.Generator] = None) -> Data:
    """Remove each node with probability ``p`` (at least one stays) and the edges that touch it;
    node-level tensors (``x``, ``pos``, ``rwpe``, ...) and ``edge_attr`` are cut to match."""
    n = data.num_nodes
    if p <= 0 or n is None or n <= 1:
        return data
    keep = torch.rand(n, generator=generator) >= p
    if not bool(keep.any()):
        keep[torch.randint(n, (1,), generator=generator)] = True
    ea = getattr(data, "edge_attr", None)
    ei, ea = subgraph(keep, data.edge_index, ea, relabel_nodes=True, num_nodes=n)
    out = data.clone()
    for key, value in data:
        if torch.is_tensor(value) and data.is_node_attr(key) and value.size(0) == n and key != "edge_index":
            out[key] = value[keep]
    out.edge_index = ei
    if ea is not None:
        out.edge_attr = ea
    out.num_nodes = int(keep.sum())
    return out


def _turn_ring(vals: torch.Tensor, steps: float) -> torch.Tensor:
    """Move the values of ``vals [n, m]`` (cells at equal angles round a centre, clockwise on
    screen) ``steps`` places on: exact for whole steps, interpolated linearly between two
    neighbouring cells otherwise (an approximation)."""
    m = vals.size(1)
    src = torch.arange(m, dtype=torch.float64) - steps  # where each new cell's value comes from
    lo = torch.floor(src)
    frac = (src - lo).to(vals.dtype)
    lo = lo.long() % m
    return vals[:, lo] * (1 - frac) + vals[:, (lo + 1) % m] * frac


#: the 8 outer cells of the 3x3 ``occ_{row}{col}`` grid clockwise from the top left (45 degrees apart)
_OCC_RING = ("occ_00", "occ_01", "occ_02", "occ_12", "occ_22", "occ_21", "occ_20", "occ_10")


def _turn_occupancy(x: torch.Tensor, col: dict, flipped: bool, angle: float) -> None:
    """Mirror, then rotate, the ``occ_*`` columns (3x3 cells of the region's box) in place: a flip
    swaps the left and right columns; a turn moves the 8 outer cells round the centre cell, exact
    for multiples of 90 degrees, interpolated between neighbours otherwise (the corner cells lie
    farther out than the edge cells, so this is an approximation there)."""
    if not all(k in col for k in _OCC_RING + ("occ_11",)):
        return
    idx = [col[k] for k in _OCC_RING]
    vals = x[:, idx].clone()
    if flipped:
        vals = vals[:, [2, 1, 0, 7, 6, 5, 4, 3]]  # occ_r0 <-> occ_r2
    x[:, idx] = _turn_ring(vals, angle / 45.0) if angle else vals


def _turn_shape_columns(x: torch.Tensor, col: dict, flipped: bool, angle: float) -> None:
    """Mirror, then rotate by ``angle`` degrees, the ``moments``/``gradient`` columns of ``x`` in place
    (:func:`~pyg_graphcls.graphs.features.shape_features`): a gradient turns as a vector, the
    position covariance ``[[sx², rho sx sy], [rho sx sy, sy²]]`` as ``R C R^T``."""
    a = math.radians(angle)
    cos, sin = math.cos(a), math.sin(a)
    for name in [n for n in col if n.startswith("grad_x_")]:
        other = "grad_y_" + name[len("grad_x_"):]
        if other not in col:
            continue
        gx, gy = x[:, col[name]].clone(), x[:, col[other]].clone()
        if flipped:
            gx = -gx
        x[:, col[name]], x[:, col[other]] = cos * gx - sin * gy, sin * gx + cos * gy
    _turn_occupancy(x, col, flipped, angle)
    if all(k in col for k in ("moment_sx", "moment_sy", "moment_rho")):
        sx, sy, rho = (x[:, col[k]].clone() for k in ("moment_sx", "moment_sy", "moment_rho"))
        if flipped:
            rho = -rho
        if angle:
            cxx, cyy, cxy = sx * sx, sy * sy, rho * sx * sy
            nxx = cos * cos * cxx - 2 * sin * cos * cxy + sin * sin * cyy
            nyy = sin * sin * cxx + 2 * sin * cos * cxy + cos * cos * cyy
            nxy = sin * cos * (cxx - cyy) + (cos * cos - sin * sin) * cxy
            sx, sy = nxx.clamp(min=0).sqrt(), nyy.clamp(min=0).sqrt()
            rho = correlation(nxy, sx, sy)
        x[:, col["moment_sx"]], x[:, col["moment_sy"]], x[:, col["moment_rho"]] = sx, sy, rho


class GraphAugment(BaseTransform):
    r"""Random flip / rotation / jitter of ``pos`` and node dropping, keeping the graph consistent.

    The image size ``(H, W)`` is read from each graph's ``image_size``
    (``[1, 2]``, stored by every builder of this package).

    Args:
        flip (float): probability of a horizontal flip. (default: 0.5)
        rotate (float): rotation angle drawn from ``[-rotate, rotate]`` degrees. (default: 0)
        jitter (float): std of Gaussian noise added to ``pos``, in pixels. (default: 0)
        node_drop (float): probability of dropping each node. (default: 0)
        features: names of the columns of ``x``
            (:func:`~pyg_graphcls.graphs.features.feature_names`) so the
            position and shape columns follow ``pos``; ``None`` leaves ``x`` alone.
        edge_attr: the edge-feature names the graphs were built with; ``edge_attr``
            is recomputed from the new ``pos``. (default: ``("distance",)``)
        generator (torch.Generator, optional): for reproducible draws; default: the global RNG.
    """

    def __init__(self, flip: float = 0.5, rotate: float = 0.0, jitter: float = 0.0, node_drop: float = 0.0,
                 features: Optional[Sequence[str]] = None, edge_attr: Sequence[str] = ("distance",),
                 generator: Optional[torch.Generator] = None) -> None:
        for name, v, hi in (("flip", flip, 1.0), ("node_drop", node_drop, 0.99)):
            if not 0.0 <= float(v) <= hi:
                raise GraphclsError(f"{name} must be a probability in [0, {hi}], got {v!r}")
        if rotate < 0 or jitter < 0:
            raise GraphclsError(f"need rotate >= 0 and jitter >= 0 (got {rotate}, {jitter})")
        edge_attr = tuple(edge_attr or ())
        bad = [e for e in edge_attr if e not in EDGE_FEATURES]
        if bad:
            raise GraphclsError(f"unknown edge feature(s) {bad}; choose from {EDGE_FEATURES}")
        self.flip, self.rotate, self.jitter, self.node_drop = float(flip), float(rotate), float(jitter), float(node_drop)
        self.features = list(features) if features is not None else None
        self.edge_attr = edge_attr
        self.generator = generator

    def _rand(self) -> float:
        return float(torch.rand((), generator=self.generator))

    def forward(self, data: Data) -> Data:  # type: ignore[override]
        if getattr(data, "pos", None) is None:
            raise GraphclsError("GraphAugment needs data.pos (node positions in pixels)")
        h, w = image_size_of(data)
        data = drop_nodes(data, self.node_drop, self.generator) if self.node_drop > 0 else data.clone()
        pos0 = data.pos.float()
        pos = pos0
        flipped = self.flip > 0 and self._rand() < self.flip
        if flipped:
            pos = flip_pos(pos, w)
        angle = 0.0
        if self.rotate > 0:
            angle = (2 * self._rand() - 1) * self.rotate
            pos = rotate_pos(pos, angle, (h, w))
        if self.jitter > 0:
            pos = pos + torch.randn(pos.shape, generator=self.generator) * self.jitter
        data.pos = pos
        if self.features is not None:
            data.x = self._update_x(data.x, pos0, pos, flipped, angle, (h, w))
        ea = getattr(data, "edge_attr", None)
        if ea is not None and self.edge_attr:
            new = edge_features(pos, data.edge_index, self.edge_attr, scale=max(h, w))
            if new.shape != ea.view(ea.size(0), -1).shape:
                raise GraphclsError(f"edge_attr has {ea.view(ea.size(0), -1).size(1)} columns but edge_attr="
                                    f"{self.edge_attr} gives {new.size(1)}: pass the names the graphs were built with")
            data.edge_attr = new
        return data

    def _update_x(self, x, pos0, pos, flipped: bool, angle: float, size: tuple[float, float]):
        if x.dim() != 2 or x.size(1) != len(self.features):
            raise GraphclsError(f"x has {x.size(-1)} columns but features names {len(self.features)}")
        x = x.clone()
        col = {n: i for i, n in enumerate(self.features)}
        h, w = size
        norm = torch.tensor([max(w - 1, 1.0), max(h - 1, 1.0)], dtype=pos.dtype)  # the builders' (W-1, H-1)
        if all(k in col for k in _BBOX):
            b = [col[k] for k in _BBOX]
            box = x[:, b].clone()
            if flipped:
                box[:, 0], box[:, 2] = 1 - x[:, b[2]], 1 - x[:, b[0]]
                shift = (pos - flip_pos(pos0, w)) / norm
            else:
                shift = (pos - pos0) / norm
            box[:, [0, 2]] += shift[:, :1]
            box[:, [1, 3]] += shift[:, 1:]
            x[:, b] = box.to(x.dtype)
        _turn_shape_columns(x, col, flipped, angle)
        if "centroid_x" in col:
            x[:, col["centroid_x"]] = (pos[:, 0] / norm[0]).to(x.dtype)
        if "centroid_y" in col:
            x[:, col["centroid_y"]] = (pos[:, 1] / norm[1]).to(x.dtype)
        return x

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(flip={self.flip}, rotate={self.rotate}, jitter={self.jitter}, "
                f"node_drop={self.node_drop})")
