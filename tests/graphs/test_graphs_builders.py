import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch_geometric.data import Data

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import (PatchGraph, PixelGridGraph, SuperpixelGraph, as_image, grid_edges, knn_graph,
                                 patch_graph, pixel_grid_graph, region_adjacency, superpixel_graph)
from pyg_graphcls.graphs.edges import gaussian_edge_weights


def brute_knn(x, k, loop=False):
    d = torch.cdist(x.double(), x.double())
    if not loop:
        d.fill_diagonal_(float("inf"))
    edges = set()
    for i in range(x.size(0)):
        for j in d[i].argsort()[:k].tolist():
            if torch.isfinite(d[i, j]):
                edges.add((j, i))
    return edges


def assert_knn(x, ei, k):
    """Tie-robust kNN check: each node's incoming sources are at its k smallest distances."""
    d = torch.cdist(x.double(), x.double())
    d.fill_diagonal_(float("inf"))
    n = x.size(0)
    for i in range(n):
        src = ei[0][ei[1] == i]
        assert len(src) == min(k, n - 1) and len(set(src.tolist())) == len(src)
        assert torch.allclose(d[i, src].sort().values, d[i].sort().values[:len(src)])


def as_set(ei):
    return set(map(tuple, ei.t().tolist()))


@pytest.mark.parametrize("n,k", [(75, 8), (5, 8), (30, 1), (2000, 3)])
def test_knn_matches_brute_force(n, k):
    g = torch.Generator().manual_seed(n)
    x = torch.rand(n, 2, generator=g)
    ei = knn_graph(x, k, use_compiled=False)
    assert as_set(ei) == brute_knn(x, k)
    # every node receives exactly min(k, n-1) edges, none from itself
    assert torch.bincount(ei[1], minlength=n).eq(min(k, n - 1)).all()
    assert (ei[0] != ei[1]).all()


def test_knn_batched_stays_inside_graphs():
    x = torch.rand(13, 3)
    batch = torch.tensor([0] * 4 + [1] * 9)
    ei = knn_graph(x, 5, batch=batch, use_compiled=False)
    assert (batch[ei[0]] == batch[ei[1]]).all()
    expect = {(a, b) for a, b in brute_knn(x[:4], 5)} | {(a + 4, b + 4) for a, b in brute_knn(x[4:], 5)}
    assert as_set(ei) == expect


def test_knn_cosine_and_errors():
    x = torch.tensor([[1.0, 0.0], [10.0, 0.1], [0.0, 1.0]])
    ei = knn_graph(x, 1, cosine=True, use_compiled=False)
    assert (0, 1) in as_set(ei) or (1, 0) in as_set(ei)
    assert as_set(ei) >= {(1, 0), (0, 1)}  # the two nearly parallel vectors pick each other
    with pytest.raises(GraphclsError, match="x must be"):
        knn_graph(torch.rand(3), 2)


@pytest.mark.parametrize("h,w,conn", [(28, 28, 8), (5, 7, 4), (1, 6, 8), (3, 3, 8)])
def test_grid_edges_match_networkx(h, w, conn):
    G = nx.grid_2d_graph(h, w)
    if conn == 8:
        G.add_edges_from(((r, c), (r + dr, c + dc)) for r in range(h) for c in range(w)
                         for dr, dc in ((1, 1), (1, -1)) if 0 <= r + dr < h and 0 <= c + dc < w)
    expect = set()
    for (a, b) in G.edges():
        ia, ib = a[0] * w + a[1], b[0] * w + b[1]
        expect |= {(ia, ib), (ib, ia)}
    assert as_set(grid_edges(h, w, conn)) == expect


def test_grid_28_matches_pyg_grid_without_self_loops():
    from torch_geometric.utils import grid, remove_self_loops
    ei, _ = grid(28, 28)
    ei, _ = remove_self_loops(ei)
    assert as_set(ei) == as_set(grid_edges(28, 28, 8))


def test_pixel_grid_graph_degrees_and_features():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    d = pixel_grid_graph(img, connectivity=8, y=2)
    deg = torch.bincount(d.edge_index[1], minlength=12).view(3, 4)
    assert deg.tolist() == [[3, 5, 5, 3], [5, 8, 8, 5], [3, 5, 5, 3]]
    assert torch.allclose(d.x[:, 0], torch.tensor(img.ravel() / 255.0, dtype=torch.float32))
    assert d.pos[5].tolist() == [1.0, 1.0] and d.pos[7].tolist() == [3.0, 1.0]
    assert d.y.tolist() == [2]
    d4 = pixel_grid_graph(img, connectivity=4, position=True)
    assert torch.bincount(d4.edge_index[1]).max() == 4 and d4.x.shape == (12, 3)


def test_superpixel_features_equal_segment_means(digits):
    img = digits[0][3]
    d = superpixel_graph(img, n_segments=75, features=("mean", "std", "centroid", "area", "bbox"),
                         return_seg=True, edge_attr=("distance", "gaussian", "cartesian"))
    seg = d.seg[0].numpy()
    n = d.num_nodes
    assert seg.min() == 0 and seg.max() == n - 1 and len(np.unique(seg)) == n
    f = img.astype(np.float64) / 255
    for s in range(n):
        m = seg == s
        rows, cols = np.nonzero(m)
        assert d.x[s, 0].item() == pytest.approx(f[m].mean(), abs=1e-5)
        assert d.x[s, 1].item() == pytest.approx(f[m].std(), abs=1e-4)
        assert d.pos[s].tolist() == pytest.approx([cols.mean(), rows.mean()], abs=1e-4)
        assert d.x[s, 2:4].tolist() == pytest.approx([cols.mean() / 27, rows.mean() / 27], abs=1e-5)
        assert d.x[s, 4].item() == pytest.approx(m.sum() / 784, abs=1e-6)
        assert d.x[s, 5:9].tolist() == pytest.approx([cols.min() / 27, rows.min() / 27, cols.max() / 27,
                                                       rows.max() / 27], abs=1e-6)
    assert d.edge_attr.shape == (d.num_edges, 4)
    src, dst = d.edge_index
    dist = (d.pos[src] - d.pos[dst]).norm(dim=1) / 28
    assert torch.allclose(d.edge_attr[:, 0], dist, atol=1e-6)
    assert torch.allclose(d.edge_attr[:, 2:], (d.pos[src] - d.pos[dst]) / 28, atol=1e-6)
    assert_knn(d.pos, d.edge_index, 8)  # centroids of background cells tie, so no exact set


def test_superpixels_are_not_a_regular_grid(digits):
    """skimage's compactness=10 gives 81 square cells on [0,1] digits; our default follows the strokes."""
    counts = [superpixel_graph(im).num_nodes for im in digits[0][:20]]
    assert 0.75 * 75 <= np.median(counts) <= 1.15 * 75
    assert len(set(counts)) > 1
    grid_like = [superpixel_graph(im, compactness=10.0).num_nodes for im in digits[0][:5]]
    assert set(grid_like) == {81}


def test_gaussian_weights_hand_example():
    pos = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    ei = torch.tensor([[1, 2], [0, 0]])  # node 0 receives from 1 (d=1) and 2 (d=3); sigma_0 = 2
    w = gaussian_edge_weights(pos, ei)
    assert w.tolist() == pytest.approx([np.exp(-0.25), np.exp(-2.25)])


def test_region_adjacency_hand_example():
    seg = np.array([[0, 0, 1], [2, 2, 1], [2, 3, 3]])
    e4 = as_set(region_adjacency(seg, 4))
    assert e4 == {(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1), (2, 3), (3, 2), (1, 3), (3, 1)}
    seg2 = np.array([[0, 1], [1, 2]])
    assert (0, 2) not in as_set(region_adjacency(seg2, 4))
    assert (0, 2) in as_set(region_adjacency(seg2, 8))


def test_rag_edges_touch(digits):
    d = superpixel_graph(digits[0][0], edges="rag", return_seg=True)
    seg = d.seg[0].numpy()
    assert as_set(d.edge_index) == as_set(region_adjacency(seg, 8))
    assert (d.edge_index[0] != d.edge_index[1]).all()


def test_patch_graph_layout():
    img = np.random.default_rng(0).random((10, 12, 3)).astype(np.float32)
    d = patch_graph(img, patch_size=4)  # padded to 12x12 -> 3x3 patches
    assert d.num_nodes == 9 and d.x.shape == (9, 48)
    assert torch.allclose(d.x[4].view(4, 4, 3), torch.from_numpy(img[4:8, 4:8]))
    assert torch.allclose(d.x[8].view(4, 4, 3)[2:], torch.zeros(2, 4, 3))  # padding rows
    assert d.pos[4].tolist() == [5.5, 5.5]
    assert torch.bincount(d.edge_index[1]).tolist() == [3, 5, 3, 5, 8, 5, 3, 5, 3]
    vit = patch_graph(np.zeros((3, 224, 224), np.float32), patch_size=16)
    assert vit.x.shape == (196, 768)
    knn = patch_graph(img, patch_size=4, edges="knn", k=3)
    assert torch.bincount(knn.edge_index[1]).eq(3).all()


@pytest.mark.parametrize("shape,dtype", [((28, 28), np.uint8), ((28, 28, 3), np.uint8), ((3, 32, 32), np.float32),
                                         ((64, 48), np.uint16), ((1, 20, 20), np.float64)])
def test_layouts_and_dtypes(shape, dtype):
    rng = np.random.default_rng(1)
    if np.issubdtype(dtype, np.integer):
        img = rng.integers(0, np.iinfo(dtype).max, shape).astype(dtype)
    else:
        img = rng.random(shape).astype(dtype)
    a = as_image(img)
    assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    c = 3 if 3 in shape[:1] + shape[-1:] else 1
    assert a.shape[2] == c
    d = superpixel_graph(img, n_segments=20)
    assert d.x.shape[1] == c + 2 and d.num_nodes >= 1


def test_bad_images_raise_clear_errors():
    with pytest.raises(GraphclsError, match="NaN"):
        superpixel_graph(np.full((8, 8), np.nan))
    with pytest.raises(GraphclsError, match="empty"):
        superpixel_graph(np.zeros((0, 5)))
    with pytest.raises(GraphclsError, match="dimensions"):
        pixel_grid_graph(np.zeros((2, 3, 4, 5)))
    with pytest.raises(GraphclsError, match="node features"):
        superpixel_graph(np.zeros((8, 8)), features=("colour",))
    with pytest.raises(GraphclsError, match="patch_size"):
        patch_graph(np.zeros((8, 8)), patch_size=0)
    with pytest.raises(GraphclsError, match="connectivity"):
        pixel_grid_graph(np.zeros((8, 8)), connectivity=6)


def test_transforms_match_functions(digits):
    img = torch.from_numpy(digits[0][5]).unsqueeze(0)  # [1, H, W] uint8
    a = SuperpixelGraph(n_segments=50)(Data(img=img, y=torch.tensor([7])))
    b = superpixel_graph(img, n_segments=50, y=7)
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index) and a.y.tolist() == [7]
    assert torch.equal(PixelGridGraph(connectivity=4)(img).edge_index, pixel_grid_graph(img, 4).edge_index)
    assert PatchGraph(patch_size=7)(img).num_nodes == 16
    assert "n_segments=50" in repr(SuperpixelGraph(n_segments=50))


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 24), w=st.integers(1, 24), c=st.sampled_from([1, 3]), n=st.integers(1, 60),
       k=st.integers(0, 9), seed=st.integers(0, 10_000), const=st.booleans())
def test_any_valid_image_gives_a_valid_graph(h, w, c, n, k, seed, const):
    rng = np.random.default_rng(seed)
    img = np.full((h, w, c), 0.5, np.float32) if const else rng.random((h, w, c)).astype(np.float32)
    d = superpixel_graph(img, n_segments=n, k=k)
    N = d.num_nodes
    assert 1 <= N <= h * w
    assert d.edge_index.numel() == 0 or (0 <= int(d.edge_index.min()) and int(d.edge_index.max()) < N)
    assert (d.edge_index[0] != d.edge_index[1]).all()
    assert torch.isfinite(d.x).all() and torch.isfinite(d.pos).all()
    if d.edge_attr is not None:
        assert torch.isfinite(d.edge_attr).all()
    if k >= 1 and N >= 2:
        assert torch.bincount(d.edge_index[1], minlength=N).min() >= 1
