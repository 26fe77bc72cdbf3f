"""graphs.merge (Ward merging of connected SLIC pieces) and the reference-free quality measures."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pyg_graphcls.datasets import load_idx_dir, sample_dir
from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import superpixel_graph
from pyg_graphcls.graphs.merge import connected_pieces, ward_merge
from pyg_graphcls.graphs.quality import explained_variation, mean_colour_picture, mean_colour_rmse


def _naive_ward(pieces: np.ndarray, img: np.ndarray, n: int) -> np.ndarray:
    """Reference: at every step recompute every touching pair's Ward cost, merge the cheapest."""
    lab = pieces.copy()
    while len(np.unique(lab)) > n:
        best = None
        ids = np.unique(lab)
        for a in ids:
            for b in ids:
                if a >= b:
                    continue
                ma, mb = lab == a, lab == b
                grown = np.zeros_like(ma)  # 4-neighbours of a
                grown[1:] |= ma[:-1]
                grown[:-1] |= ma[1:]
                grown[:, 1:] |= ma[:, :-1]
                grown[:, :-1] |= ma[:, 1:]
                if not (grown & mb).any():
                    continue
                na, nb = ma.sum(), mb.sum()
                c = na * nb / (na + nb) * (img[ma].mean() - img[mb].mean()) ** 2
                if best is None or c < best[0]:
                    best = (c, a, b)
        lab[lab == best[2]] = best[1]
    return lab


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.ravel().tolist(), b.ravel().tolist()))
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


def test_hand_worked_strip():
    """1x4 strip, values 0 0 10 11: first the two zeros merge (cost 0), then 10 and 11 (cost 0.5)."""
    img = np.array([[0.0, 0.0, 10.0, 11.0]])
    seg = np.arange(4).reshape(1, 4)
    assert ward_merge(seg, img, 3).tolist() == [[0, 0, 1, 2]]
    assert ward_merge(seg, img, 2).tolist() == [[0, 0, 1, 1]]
    assert ward_merge(seg, img, 1).tolist() == [[0, 0, 0, 0]]


def test_split_labels_become_pieces_and_only_touching_regions_merge():
    # label 0 in two pieces (left and right columns), label 1 between them
    seg = np.array([[0, 1, 0], [0, 1, 0]])
    img = np.array([[5.0, 0.0, 5.0], [5.0, 0.0, 5.0]])
    assert connected_pieces(seg).max() + 1 == 3
    out = ward_merge(seg, img, 3)
    assert out.tolist() == [[0, 1, 2], [0, 1, 2]]  # nothing to merge: the pieces, numbered by first pixel
    # the two 5-pieces are the same colour but do not touch: one of them has to merge with the middle
    two = ward_merge(seg, img, 2)
    assert len(np.unique(two)) == 2 and connected_pieces(two).max() + 1 == 2


@settings(max_examples=25, deadline=None)
@given(h=st.integers(2, 6), w=st.integers(2, 6), cells=st.integers(1, 3), n=st.integers(1, 8),
       seed=st.integers(0, 10_000))
def test_matches_naive_greedy_ward(h, w, cells, n, seed):
    rng = np.random.default_rng(seed)
    seg = rng.integers(0, cells * 3, size=(h, w))
    img = rng.random((h, w))  # continuous values: no ties between costs
    got = ward_merge(seg, img, n)
    ref = _naive_ward(connected_pieces(seg), img, n)
    assert _same_partition(got, ref)
    assert got.max() + 1 == min(n, connected_pieces(seg).max() + 1)
    assert connected_pieces(got).max() == got.max()  # every region connected
    assert sorted(np.unique(got)) == list(range(got.max() + 1))


def test_colour_images_and_errors():
    rng = np.random.default_rng(0)
    seg = rng.integers(0, 6, size=(5, 5))
    img = rng.random((5, 5, 3))
    out = ward_merge(seg, img, 4)
    assert out.shape == (5, 5) and out.max() + 1 == 4
    with pytest.raises(GraphclsError, match="same size"):
        ward_merge(seg, img[:4], 4)
    with pytest.raises(GraphclsError, match="n_regions"):
        ward_merge(seg, img, 0)


def test_superpixel_graph_merge_ward_gives_75_connected_regions():
    imgs = load_idx_dir(sample_dir())[0][:3]
    for im in imgs:
        g = superpixel_graph(im, n_segments=75, merge="ward", features=("mean", "centroid"), return_seg=True)
        seg = g.seg[0].numpy()
        assert g.num_nodes == 75 == seg.max() + 1 == connected_pieces(seg).max() + 1
        # the graph's mean column is the mean of each region's pixels
        means = np.array([im[seg == r].mean() / 255.0 for r in range(75)])
        np.testing.assert_allclose(g.x[:, 0].numpy(), means, atol=1e-6)
        # and the picture it describes is closer to the image than SLIC's own connectivity step's
        plain = superpixel_graph(im, n_segments=75, return_seg=True)
        assert mean_colour_rmse(seg, im) < mean_colour_rmse(plain.seg[0].numpy(), im)
    with pytest.raises(GraphclsError, match="merge"):
        superpixel_graph(imgs[0], merge="kmeans")
    with pytest.raises(GraphclsError, match="merge"):
        superpixel_graph(imgs[0], merge="ward", method="fast")


def test_quality_measures_hand_example():
    seg = np.array([[0, 0, 1], [0, 1, 1]])
    img = np.array([[1.0, 3, 5], [2, 7, 9]])
    assert mean_colour_picture(seg, img)[..., 0].tolist() == [[2, 2, 7], [2, 7, 7]]
    assert mean_colour_rmse(seg, img) == pytest.approx(np.sqrt(10 / 6))
    assert explained_variation(seg, img) == pytest.approx(1 - 10 / 47.5)
    assert explained_variation(seg, np.ones((2, 3))) == 1.0
    assert mean_colour_rmse(np.arange(6).reshape(2, 3), img) == 0.0
    with pytest.raises(GraphclsError, match="differ"):
        mean_colour_rmse(seg, img[:1])


def test_interior_points_hand_worked_ring():
    from pyg_graphcls.graphs.superpixels import interior_points, segment_features
    seg = np.zeros((5, 5), np.int64)
    seg[1:4, 1:4] = 1
    seg[2, 2] = 2                       # a ring (1) around a dot (2) inside a frame (0): all centroids at (2, 2)
    _, cent = segment_features(np.zeros((5, 5, 1)), seg, ("mean",))
    assert np.allclose(cent, 2.0)
    # nearest own pixel, ties to the first in row-major order: (2, 0) for the frame, (2, 1) for the ring
    assert interior_points(seg, cent).tolist() == [[2, 0], [2, 1], [2, 2]]
    with pytest.raises(GraphclsError, match="labels"):
        interior_points(seg, cent[:2])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_interior_points_against_a_loop(seed):
    from pyg_graphcls.graphs.superpixels import interior_points, segment_features
    rng = np.random.default_rng(seed)
    seg = connected_pieces(rng.integers(0, 3, (7, 9)))
    _, cent = segment_features(np.zeros((7, 9, 1)), seg, ("mean",))
    got = interior_points(seg, cent)
    for i in range(int(seg.max()) + 1):
        ys, xs = np.nonzero(seg == i)
        d = (xs - cent[i, 0]) ** 2 + (ys - cent[i, 1]) ** 2
        x, y = got[i].astype(int)
        assert seg[y, x] == i and np.isclose((x - cent[i, 0]) ** 2 + (y - cent[i, 1]) ** 2, d.min())


def test_superpixel_graph_interior_positions():
    import torch
    from pyg_graphcls.graphs.edges import knn_graph
    img = load_idx_dir(sample_dir())[0][3]
    kw = {"n_segments": 75, "features": ["mean", "centroid"], "merge": "ward", "return_seg": True}
    a = superpixel_graph(img, **kw)
    b = superpixel_graph(img, node_pos="interior", **kw)
    assert torch.equal(a.x, b.x) and torch.equal(a.seg, b.seg)      # features keep the centroid
    px = b.pos.long()
    assert torch.equal(b.seg[0][px[:, 1], px[:, 0]], torch.arange(b.num_nodes))  # each point in its region
    assert (a.seg[0][a.pos.round().long()[:, 1], a.pos.round().long()[:, 0]] != torch.arange(a.num_nodes)).any()
    assert torch.equal(b.edge_index, knn_graph(b.pos, 8))
    with pytest.raises(GraphclsError, match="node_pos"):
        superpixel_graph(img, node_pos="medoid")
    with pytest.raises(GraphclsError, match="node_pos"):
        superpixel_graph(img, method="fast", node_pos="interior")
