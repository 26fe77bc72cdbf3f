r"""Paint node features back onto a pixel lattice: the one home of graph → image painting.

A graph of image regions carries, per node, a position ``pos`` (pixels,
``(x, y)``) and optionally the region's bounding box and a coarse mask of it
(the ``bbox`` and ``occupancy`` feature columns). :func:`rasterize_nearest`
paints each lattice cell with its graph's nearest node (a Voronoi picture from
``pos`` alone); :func:`rasterize_regions` paints each region over the cells its
own box and mask say it covers. Gradients flow to the painted features, not to
the geometry.
"""
from __future__ import annotations

import math
from typing import Union

import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from ..errors import GraphclsError

__all__ = ["rasterize_nearest", "rasterize_regions", "region_columns"]


def _sides(image_size: Union[float, Tensor], size: int, like: Tensor) -> Tensor:
    """Image side per graph as ``[size, 1, 1]`` in the dtype of ``like``."""
    s = torch.as_tensor(image_size, dtype=like.dtype, device=like.device)
    if s.dim() == 0:
        s = s.expand(size)
    if s.shape != (size,) or bool((s <= 0).any()):
        raise GraphclsError(f"image_size must be a positive number or one per graph [{size}], got "
                            f"{tuple(s.shape)}")
    return s.view(size, 1, 1)


def _cell_centres(grid: int, sides: Tensor) -> Tensor:
    """``[B, G*G, 2]`` (x, y) centres of the ``grid x grid`` lattice cells over each graph's image, in pixels."""
    step = sides / grid                                                    # [B, 1, 1]
    idx = torch.arange(grid, device=sides.device, dtype=sides.dtype)
    cy, cx = torch.meshgrid(idx, idx, indexing="ij")
    unit = torch.stack([cx.reshape(-1), cy.reshape(-1)], 1) + 0.5          # [G*G, 2]
    return unit.unsqueeze(0) * step - 0.5


def rasterize_nearest(h: Tensor, pos: Tensor, batch: Tensor, size: int, grid: int,
                      image_size: Union[float, Tensor]) -> Tensor:
    r"""Paint each lattice cell with the features of its graph's nearest node.

    For graph :math:`g` with image side :math:`S_g` the cell :math:`(r, c)` of a
    :math:`G \times G` lattice has centre
    :math:`\mathbf{z}_{rc} = ((c + \tfrac12) S_g / G - \tfrac12, (r + \tfrac12) S_g / G - \tfrac12)`
    in pixel coordinates, and

    .. math::
        \mathbf{P}_{g, :, r, c} = \mathbf{h}_{i^*}, \qquad
        i^* = \operatorname*{arg\,min}_{i \in g} \lVert \mathbf{p}_i - \mathbf{z}_{rc} \rVert

    (a Voronoi tessellation of the node positions; a graph with no nodes gives zeros).

    Args:
        h (Tensor): node features ``[N, C]``.
        pos (Tensor): node positions ``[N, 2]`` in pixels.
        batch (Tensor): ``[N]``.
        size (int): number of graphs :math:`B`.
        grid (int): lattice side :math:`G`.
        image_size (float or Tensor): :math:`S_g`, one number or ``[B]``.

    Shapes: ``[B, C, G, G]``.
    """
    c = h.size(1)
    dense_h, mask = to_dense_batch(h, batch, batch_size=size)         # [B, Nmax, C]
    dense_p, _ = to_dense_batch(pos, batch, batch_size=size)           # [B, Nmax, 2]
    cells = _cell_centres(grid, _sides(image_size, size, pos))         # [B, G*G, 2]
    d = torch.cdist(cells.expand(size, -1, -1).contiguous(), dense_p)  # [B, G*G, Nmax]
    d = d.masked_fill(~mask.unsqueeze(1), float("inf"))
    near = d.argmin(2)                                                 # [B, G*G]
    out = dense_h.gather(1, near.unsqueeze(2).expand(-1, -1, c))       # [B, G*G, C]
    out = out * mask.any(1).view(size, 1, 1).to(out.dtype)
    return out.view(size, grid, grid, c).permute(0, 3, 1, 2)


def rasterize_regions(h: Tensor, pos: Tensor, bbox: Tensor, occupancy: Tensor, batch: Tensor, size: int,
                      grid: int, image_size: Union[float, Tensor]) -> Tensor:
    r"""Paint each lattice cell with the features of the region that most likely covers it.

    A cell centre :math:`\mathbf{z}` (as in :func:`rasterize_nearest`) inside the
    box of region :math:`i` falls in one of the box's :math:`k \times k` equal
    cells; the region's score there is that cell's occupancy :math:`o_i` (the
    share of it the region covers), and :math:`-1` outside the box:

    .. math::
        i^* = \operatorname*{arg\,max}_{i \in g} \Big(o_i(\mathbf{z}) -
        10^{-3} \frac{\lVert \mathbf{p}_i - \mathbf{z} \rVert}{S_g}\Big)

    so the best-covering region wins, distance breaks ties, and a cell inside no
    box goes to the nearest node. This paints each region with (a coarse copy of)
    its own shape, where :func:`rasterize_nearest` paints a Voronoi cell.

    Args:
        h (Tensor): node features ``[N, C]``.
        pos (Tensor): ``[N, 2]`` in pixels.
        bbox (Tensor): ``[N, 4]`` ``(x0, y0, x1, y1)`` in pixels, inclusive.
        occupancy (Tensor): ``[N, k*k]`` row-major.
        batch (Tensor), size (int), grid (int), image_size: as :func:`rasterize_nearest`.

    Shapes: ``[B, C, G, G]``.
    """
    c, k2 = h.size(1), occupancy.size(1)
    k = int(round(math.sqrt(k2)))
    if k * k != k2 or bbox.size(-1) != 4:
        raise GraphclsError(f"rasterize_regions needs bbox [N, 4] and occupancy [N, k*k], got "
                            f"{tuple(bbox.shape)} and {tuple(occupancy.shape)}")
    sides = _sides(image_size, size, pos)
    dense_h, mask = to_dense_batch(h, batch, batch_size=size)          # [B, N, C]
    dense_p, _ = to_dense_batch(pos, batch, batch_size=size)            # [B, N, 2]
    dense_b, _ = to_dense_batch(bbox.to(pos.dtype), batch, batch_size=size)
    dense_o, _ = to_dense_batch(occupancy.to(pos.dtype), batch, batch_size=size)
    n = dense_h.size(1)
    cells = _cell_centres(grid, sides).expand(size, -1, -1)              # [B, G*G, 2]

    def axis(coord: Tensor, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
        side = (hi - lo + 1).clamp(min=1).unsqueeze(1)                  # [B, 1, N]
        off = coord.unsqueeze(2) - lo.unsqueeze(1) + 0.5                # [B, G*G, N], 0 at the box edge
        inside = (off >= 0) & (off < side)
        idx = torch.div(off * k, side, rounding_mode="floor").clamp(0, k - 1).long()
        return inside, idx

    in_x, col = axis(cells[..., 0], dense_b[..., 0], dense_b[..., 2])
    in_y, row = axis(cells[..., 1], dense_b[..., 1], dense_b[..., 3])
    flat = (torch.arange(n, device=h.device).view(1, 1, n) * k2 + row * k + col).view(size, -1)
    occ = dense_o.reshape(size, n * k2).gather(1, flat).view(size, -1, n)  # [B, G*G, N]
    dist = torch.cdist(cells.contiguous(), dense_p) / sides
    score = torch.where(in_x & in_y, occ, torch.full_like(occ, -1.0)) - 1e-3 * dist
    score = score.masked_fill(~mask.unsqueeze(1), float("-inf"))
    best = score.argmax(2)                                              # [B, G*G]
    out = dense_h.gather(1, best.unsqueeze(2).expand(-1, -1, c))
    out = out * mask.any(1).view(size, 1, 1).to(out.dtype)
    return out.view(size, grid, grid, c).permute(0, 3, 1, 2)


def region_columns(x: Tensor, bbox: tuple[int, int], occupancy: tuple[int, int],
                   image_size: Union[float, Tensor]) -> tuple[Tensor, Tensor]:
    r"""Read the region box (in pixels) and the occupancy mask from node features ``x``.

    The ``bbox`` feature is stored divided by :math:`S - 1` (a coordinate over the
    largest pixel index); this returns :math:`\mathbf{x}_{[\text{bbox}]} \cdot
    \max(S - 1, 1)`, the input of :func:`rasterize_regions`.

    Args:
        x (Tensor): ``[N, F]``.
        bbox (tuple[int, int]): ``[start, stop)`` of the 4 bbox columns.
        occupancy (tuple[int, int]): ``[start, stop)`` of the ``k*k`` occupancy columns.
        image_size (float or Tensor): :math:`S`, one number or one per node ``[N]``.

    Returns: ``(bbox [N, 4], occupancy [N, k*k])``.
    """
    (b0, b1), (o0, o1) = (int(v) for v in bbox), (int(v) for v in occupancy)
    k = int(round(math.sqrt(max(o1 - o0, 0))))
    if b1 - b0 != 4 or o1 - o0 < 1 or k * k != o1 - o0:
        raise GraphclsError(f"region_columns needs 4 bbox columns and k*k occupancy columns, got bbox "
                            f"[{b0}, {b1}) and occupancy [{o0}, {o1})")
    if x.dim() != 2 or x.size(1) < max(b1, o1) or min(b0, o0) < 0:
        raise GraphclsError(f"node features {tuple(x.shape)} have no bbox columns [{b0}, {b1}) and "
                            f"occupancy columns [{o0}, {o1})")
    s = torch.as_tensor(image_size, dtype=x.dtype, device=x.device)
    scale = (s - 1.0).clamp(min=1.0)
    if scale.dim() == 1:
        scale = scale.unsqueeze(1)
    return x[:, b0:b1] * scale, x[:, o0:o1]
