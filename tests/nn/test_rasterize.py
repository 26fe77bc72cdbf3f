"""rasterize_nearest / rasterize_regions against loops and a hand-made segmentation; region_columns."""
import numpy as np
import pytest
import torch

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.nn import rasterize_nearest, rasterize_regions, region_columns


def test_rasterize_nearest_against_loop():
    """Each lattice cell takes its own graph's nearest node (cell centres ((i + 0.5) * step - 0.5) px);
    an empty graph in the batch gives zeros; gradients reach the gathered features."""
    torch.manual_seed(0)
    pos = torch.rand(9, 2) * 8
    h = torch.randn(9, 3, requires_grad=True)
    batch = torch.tensor([0, 0, 0, 0, 2, 2, 2, 2, 2])  # graph 1 has no nodes
    out = rasterize_nearest(h, pos, batch, 3, grid=4, image_size=8.0)
    assert out.shape == (3, 3, 4, 4)
    for b in (0, 2):
        idx = (batch == b).nonzero().view(-1)
        for i in range(4):
            for j in range(4):
                centre = torch.tensor([j * 2 + 0.5, i * 2 + 0.5])  # (x, y): column j, row i
                k = idx[((pos[idx] - centre) ** 2).sum(1).argmin()]
                assert torch.equal(out[b, :, i, j], h[k].detach()), (b, i, j)
    assert torch.equal(out[1], torch.zeros(3, 4, 4))
    out.sum().backward()
    assert h.grad.abs().sum() > 0


def test_rasterize_nearest_image_size_per_graph():
    """With one image side per graph, each graph's lattice spans its own image (cell step S_g / grid)."""
    torch.manual_seed(1)
    pos = torch.cat([torch.rand(6, 2) * 4, torch.rand(6, 2) * 12])
    h = torch.randn(12, 2)
    batch = torch.tensor([0] * 6 + [1] * 6)
    out = rasterize_nearest(h, pos, batch, 2, grid=3, image_size=torch.tensor([4.0, 12.0]))
    for b, side in ((0, 4.0), (1, 12.0)):
        idx = (batch == b).nonzero().view(-1)
        step = side / 3
        for i in range(3):
            for j in range(3):
                centre = torch.tensor([(j + 0.5) * step - 0.5, (i + 0.5) * step - 0.5])
                k = idx[((pos[idx] - centre) ** 2).sum(1).argmin()]
                assert torch.equal(out[b, :, i, j], h[k]), (b, i, j)
    with pytest.raises(GraphclsError, match="image_size"):
        rasterize_nearest(h, pos, batch, 2, grid=3, image_size=torch.tensor([4.0, 12.0, 1.0]))


def _hand_segmentation():
    """6x6: an L (region 0) and a 2x2 block (1) share the top-left 3x3 box; 2 = top-right 3x3; 3 = bottom half."""
    seg = np.full((6, 6), 3, np.int64)
    seg[:3, :3] = 0
    seg[:2, 1:3] = 1
    seg[:3, 3:] = 2
    return seg


def test_rasterize_regions_paints_shapes_back():
    """From bbox + occupancy alone (segment_features) the regions are painted back pixel-exactly
    where a 3x3 box cell is one pixel (the L) or the box is full; nearest-centroid painting is not."""
    from pyg_graphcls.graphs.superpixels import segment_features
    seg = _hand_segmentation()
    x, pos = segment_features(np.zeros((6, 6, 1)), seg, ["bbox", "occupancy"])
    x, pos = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(pos, dtype=torch.float32)
    assert x[0, 4:].tolist() == [1, 0, 0, 1, 0, 0, 1, 1, 1]  # the L's occupancy, by hand
    ids = torch.arange(4.0).unsqueeze(1)
    batch = torch.zeros(4, dtype=torch.long)
    bbox, occ = region_columns(x, (0, 4), (4, 13), 6.0)
    out = rasterize_regions(ids, pos, bbox, occ, batch, 1, grid=6, image_size=6.0)
    assert out.shape == (1, 1, 6, 6)
    assert out[0, 0].long().tolist() == seg.tolist()
    voronoi = rasterize_nearest(ids, pos, batch, 1, grid=6, image_size=6.0)
    assert voronoi[0, 0].long().tolist() != seg.tolist()


def test_rasterize_regions_fallbacks_and_errors():
    """A cell inside no box takes the nearest centroid; an empty graph gives zeros; gradients reach h."""
    pos = torch.tensor([[0.0, 0.0], [3.0, 3.0], [1.0, 1.0]])
    bbox = torch.tensor([[0.0, 0.0, 0.0, 0.0], [3.0, 3.0, 3.0, 3.0], [1.0, 1.0, 1.0, 1.0]])  # 1-pixel boxes
    occ = torch.ones(3, 9)
    h = torch.tensor([[1.0], [2.0], [3.0]], requires_grad=True)
    batch = torch.tensor([0, 0, 2])  # graph 1 empty
    out = rasterize_regions(h, pos, bbox, occ, batch, 3, grid=4, image_size=4.0)
    # cell (0, 0) is node 0's own box, (3, 3) node 1's; other cells go to the nearer centroid; ties either way
    d0 = torch.tensor([[((i) ** 2 + (j) ** 2) for j in range(4)] for i in range(4)], dtype=torch.float32)
    d1 = torch.tensor([[((i - 3) ** 2 + (j - 3) ** 2) for j in range(4)] for i in range(4)], dtype=torch.float32)
    expect = torch.where(d0 <= d1, 1.0, 2.0)
    expect[(d0 == d1)] = out[0, 0][(d0 == d1)]
    assert torch.equal(out[0, 0], expect)
    assert torch.equal(out[1], torch.zeros(1, 4, 4))
    assert torch.equal(out[2], torch.full((1, 4, 4), 3.0))  # one node: everything is its
    out.sum().backward()
    assert h.grad[0] > 0 and h.grad[2] == 16
    with pytest.raises(GraphclsError, match="occupancy"):
        rasterize_regions(h, pos, bbox, torch.ones(3, 8), batch, 3, grid=4, image_size=4.0)


def test_region_columns_scale_and_errors():
    x = torch.rand(5, 23)
    bbox, occ = region_columns(x, (5, 9), (14, 23), 28.0)
    assert torch.allclose(bbox, x[:, 5:9] * 27) and torch.equal(occ, x[:, 14:23])
    sides = torch.tensor([28.0, 28.0, 10.0, 10.0, 1.0])  # one side per node; a 1-pixel image keeps the scale 1
    bbox, _ = region_columns(x, (5, 9), (14, 23), sides)
    assert torch.allclose(bbox, x[:, 5:9] * torch.tensor([27.0, 27.0, 9.0, 9.0, 1.0]).unsqueeze(1))
    with pytest.raises(GraphclsError, match="occupancy"):
        region_columns(x[:, :20], (5, 9), (14, 23), 28.0)
    with pytest.raises(GraphclsError, match="k\\*k"):
        region_columns(x, (5, 9), (14, 22), 28.0)
    with pytest.raises(GraphclsError, match="4 bbox"):
        region_columns(x, (5, 8), (14, 23), 28.0)
