"""graphs.edges: the one kNN, grid and region-adjacency edges, edge weights."""
import networkx as nx
import numpy as np
import pytest
import torch

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import grid_edges, knn_graph, region_adjacency
from pyg_graphcls.graphs.edges import gaussian_edge_weights


def brute_knn(x, k, loop=False):
    """Edges (source, target) of the documented kNN, by brute force in numpy on float32 squared distances
    (the documented arithmetic) of the
    coordinates: per target, sources by (squared distance, index), self excluded unless ``loop``."""
    p = np.asarray(x, dtype=np.float32)
    edges = []
    for i in range(len(p)):
        cand = sorted((float(((p[j] - p[i]) ** 2).sum()), j) for j in range(len(p)) if loop or j != i)
        edges += [(j, i) for _, j in cand[:k]]
    return edges


def as_list(ei):
    return list(map(tuple, ei.t().tolist()))


def as_set(ei):
    return set(map(tuple, ei.t().tolist()))


def lattice(n, seed=0):
    """n points on a small integer lattice: many exactly equal distances (and some repeated points)."""
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 5, (n, 2)).astype(np.float32))


@pytest.mark.parametrize("n,k", [(75, 8), (5, 8), (30, 1), (2000, 3)])
def test_knn_matches_brute_force(n, k):
    g = torch.Generator().manual_seed(n)
    x = torch.rand(n, 2, generator=g)
    ei = knn_graph(x, k, use_compiled=False)
    if n <= 75:
        assert as_list(ei) == brute_knn(x, k)
    else:  # the padded tensor path (n > 1024); random points: no ties, compare with a float64 argsort
        p = x.double().numpy()
        d = ((p[:, None] - p[None]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        nn = np.argsort(d, axis=1, kind="stable")[:, :k]
        assert as_set(ei) == {(int(j), i) for i in range(n) for j in nn[i]}
    # every node receives exactly min(k, n-1) edges, none from itself
    assert torch.bincount(ei[1], minlength=n).eq(min(k, n - 1)).all()
    assert (ei[0] != ei[1]).all()


@pytest.mark.parametrize("loop", [False, True])
def test_knn_fallbacks_break_ties_by_index(loop):
    """Every fallback (numpy for one graph, the padded tensor path, the compiled loop) returns, edge for
    edge, the brute-force list: ties between equal distances go to the lower index."""
    from pyg_graphcls.graphs.edges import knn_padded
    x = lattice(40)
    want = brute_knn(x, 6, loop=loop)
    assert as_list(knn_graph(x, 6, loop=loop, use_compiled=False)) == want                 # numpy path
    batch = torch.zeros(40, dtype=torch.long)
    assert as_list(knn_graph(x, 6, batch=batch, loop=loop, use_compiled=False)) == want    # padded path
    for use_cpp in (False, None):                                # tensor, then compiled when it builds
        src, dst, n_edges = knn_padded(x[None], torch.tensor([40]), 6, loop=loop, use_cpp=use_cpp)
        assert as_list(torch.stack([src, dst])) == want and n_edges.tolist() == [len(want)]


def test_knn_padded_many_graphs_against_brute_force():
    from pyg_graphcls.graphs.edges import knn_padded
    counts = torch.tensor([7, 1, 3, 12])
    pos = torch.zeros(4, 12, 2)
    want_all = []
    for b, n in enumerate(counts.tolist()):
        pos[b, :n] = lattice(n, seed=b)
        want_all.append(brute_knn(pos[b, :n], 4))
    for use_cpp in (False, None):
        src, dst, n_edges = knn_padded(pos, counts, 4, use_cpp=use_cpp)
        assert n_edges.tolist() == [len(w) for w in want_all]
        parts = torch.stack([src, dst]).split(n_edges.tolist(), dim=1)
        assert [as_list(p) for p in parts] == want_all


def test_compiled_knn_small_matches_the_tensor_path_on_many_layouts():
    """The compiled loop picks candidates under a threshold carried from one target to the next: graphs
    where that guess is far off (scattered, clustered, repeated points, an outlier, fewer nodes than k)
    give the tensor path's edges, in its order."""
    from pyg_graphcls.graphs import _compiled
    from pyg_graphcls.graphs.edges import knn_padded
    if _compiled.load() is None:
        pytest.skip("no compiler: the compiled kernel is not built")
    rng = np.random.default_rng(0)
    counts = torch.tensor([75, 0, 1, 2, 8, 9, 40, 75, 75, 75, 60, 3])
    pos = torch.zeros(len(counts), 75, 2)
    for b, n in enumerate(counts.tolist()):
        kind = b % 4
        if kind == 0:   # superpixel-like: jittered grid in label order
            g = np.stack(np.meshgrid(np.arange(9), np.arange(9)), -1).reshape(-1, 2)[:n] * 3.1
            p = g + rng.normal(0, 0.6, g.shape)
        elif kind == 1:  # scattered, with an outlier far away
            p = rng.uniform(0, 28, (n, 2))
            p[:1] += 1e4
        elif kind == 2:  # tight clusters with repeated points
            p = rng.integers(0, 3, (n, 2)) * 10.0
        else:            # shuffled lattice, many equal distances
            p = rng.permutation(rng.integers(0, 6, (n, 2)).astype(float))
        pos[b, :n] = torch.from_numpy(p.astype(np.float32))
    for k in (1, 8, 20):
        got = knn_padded(pos, counts, k, use_cpp=True)
        want = knn_padded(pos, counts, k, use_cpp=False)
        assert all(torch.equal(a, w) for a, w in zip(got, want)), k


def test_knn_batched_stays_inside_graphs():
    x = lattice(13, seed=3)
    batch = torch.tensor([0] * 4 + [1] * 9)
    ei = knn_graph(x, 5, batch=batch, use_compiled=False)
    assert (batch[ei[0]] == batch[ei[1]]).all()
    expect = brute_knn(x[:4], 5) + [(a + 4, b + 4) for a, b in brute_knn(x[4:], 5)]
    assert as_list(ei) == expect


def test_padded_layout_is_pygs_to_dense_batch():
    """knn_graph pads the graphs of a batch itself (no PyG import on the conversion path): the layout of
    PyG's to_dense_batch, a graph without nodes in the middle included."""
    from torch_geometric.utils import to_dense_batch

    from pyg_graphcls.graphs.edges import _pad_graphs
    x = torch.rand(12, 3, generator=torch.Generator().manual_seed(1))
    for batch in ([0] * 5 + [1] * 3 + [3] * 4, [0] * 12, [2] * 2 + [3] * 10):
        batch = torch.tensor(batch)
        dense, counts = _pad_graphs(x, batch)
        want, mask = to_dense_batch(x, batch)
        assert torch.equal(dense, want) and torch.equal(counts, mask.sum(1))


def test_knn_uses_a_compiled_library_when_importable(monkeypatch):
    """With pyg-lib/torch-cluster importable, knn_graph hands the call over; use_compiled=False keeps the
    fallback; use_compiled=True without a library is an error."""
    from pyg_graphcls.graphs import edges
    calls = []

    def fake(x, k, batch=None, loop=False, cosine=False):
        calls.append((k, loop, cosine))
        return torch.zeros(2, 0, dtype=torch.long)

    x = lattice(10)
    monkeypatch.setattr(edges, "_LIBRARY_KNN", fake)
    monkeypatch.setattr(edges, "HAS_COMPILED_KNN", True)
    assert knn_graph(x, 3).shape == (2, 0) and calls == [(3, False, False)]
    assert as_list(knn_graph(x, 3, use_compiled=False)) == brute_knn(x, 3)
    monkeypatch.setattr(edges, "_LIBRARY_KNN", None)
    monkeypatch.setattr(edges, "HAS_COMPILED_KNN", False)
    with pytest.raises(GraphclsError, match="pyg-lib"):
        knn_graph(x, 3, use_compiled=True)


@pytest.mark.skipif(__import__("pyg_graphcls.graphs.edges", fromlist=["x"]).HAS_COMPILED_KNN is False,
                    reason="neither pyg-lib nor torch-cluster is installed")
def test_compiled_library_agrees_without_ties():
    x = torch.rand(200, 2, generator=torch.Generator().manual_seed(0))
    batch = torch.repeat_interleave(torch.arange(4), 50)
    assert as_set(knn_graph(x, 6, batch=batch)) == as_set(knn_graph(x, 6, batch=batch, use_compiled=False))


def test_knn_cosine_and_errors():
    x = torch.tensor([[1.0, 0.0], [10.0, 0.1], [0.0, 1.0]])
    ei = knn_graph(x, 1, cosine=True, use_compiled=False)
    assert as_set(ei) >= {(1, 0), (0, 1)}  # the two nearly parallel vectors pick each other
    unit = torch.nn.functional.normalize(x, dim=-1)
    assert as_list(ei) == brute_knn(unit, 1)  # cosine: Euclidean on L2-normalised rows
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


def test_knn_long_rows_keep_the_tie_order():
    """Graphs of more than 128 nodes select by topk + ties by index: still the brute-force list, on a lattice
    where most distances tie."""
    x = lattice(300, seed=5) * 0.5
    want = brute_knn(x, 7)
    assert as_list(knn_graph(x, 7, batch=torch.zeros(300, dtype=torch.long), use_compiled=False)) == want
    from pyg_graphcls.graphs.edges import knn_padded
    src, dst, _ = knn_padded(x[None], torch.tensor([300]), 7, use_cpp=False)
    assert as_list(torch.stack([src, dst])) == want
    # rows of a graph smaller than the padding (inf columns) and loop=True
    xs = torch.cat([x[:150], x[:200]])
    batch = torch.repeat_interleave(torch.arange(2), torch.tensor([150, 200]))
    got = as_list(knn_graph(xs, 5, batch=batch, loop=True, use_compiled=False))
    assert got == brute_knn(x[:150], 5, loop=True) + [(a + 150, b + 150) for a, b in brute_knn(x[:200], 5, loop=True)]
