"""graphs.edges: the one kNN, grid and region-adjacency edges, edge weights."""
import networkx as nx
import numpy as np
import pytest
import torch

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import grid_edges, knn_graph, region_adjacency
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
