import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from torch_geometric.utils import scatter

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs.labels import (cooccurrence_graph, label_mask, load_label_graph,
                                        mlgcn_code_adjacency, save_label_graph)

# 4 samples, 4 labels; label 2 never occurs.
Y = np.array([[1, 1, 0, 0],
              [1, 0, 0, 0],
              [0, 1, 0, 1],
              [1, 1, 0, 0]])


def test_hand_worked_example():
    g = cooccurrence_graph(Y, threshold=0.4, reweight=0.2)
    assert g.num_nodes == 4 and g.num_samples == 4
    assert g.counts.tolist() == [3, 3, 0, 1]
    # P(j | i) = co[i, j] / count[i]
    expected_p = torch.tensor([[1, 2 / 3, 0, 0],
                               [2 / 3, 1, 0, 1 / 3],
                               [0, 0, 0, 0],
                               [0, 1, 0, 1]], dtype=torch.float32)
    assert torch.allclose(g.cond_prob, expected_p)
    # tau = 0.4 keeps 0->1, 1->0, 3->1 (P(3|1) = 1/3 is dropped); no diagonal
    assert g.adj.tolist() == [[False, True, False, False],
                              [True, False, False, False],
                              [False, False, False, False],
                              [False, True, False, False]]
    expected = torch.tensor([[0.8, 0.2, 0, 0],
                             [0.2, 0.8, 0, 0],
                             [0, 0, 1.0, 0],   # never-occurring label: self-loop only
                             [0, 0.2, 0, 0.8]])
    assert torch.allclose(g.adj_reweighted, expected)
    # rows of A' sum to one, so the symmetric normalisation leaves it unchanged
    assert torch.allclose(g.adj_norm, expected)
    assert torch.isfinite(g.cond_prob).all() and torch.isfinite(g.adj_norm).all()


def test_no_reweight_symmetric_normalisation():
    g = cooccurrence_graph(Y, threshold=0.4, reweight=None, normalize=True)
    # A + I has row degrees [2, 2, 1, 2]
    r = 0.5
    expected = torch.tensor([[r, r, 0, 0], [r, r, 0, 0], [0, 0, 1, 0], [0, r, 0, r]])
    assert torch.allclose(g.adj_norm, expected)
    g2 = cooccurrence_graph(Y, threshold=0.4, reweight=None, normalize=False)
    assert torch.allclose(g2.adj_norm, g2.adj.float() + torch.eye(4))


def test_threshold_is_inclusive():
    # label 0 occurs 5 times, together with label 1 twice: P(1|0) = 0.4 exactly
    y = np.zeros((5, 2), dtype=int)
    y[:, 0] = 1
    y[:2, 1] = 1
    g = cooccurrence_graph(y, threshold=0.4)
    assert bool(g.adj[0, 1]) and bool(g.adj[1, 0])
    assert not bool(cooccurrence_graph(y, threshold=0.41).adj[0, 1])


def test_edge_index_convention_matches_dense_product():
    g = cooccurrence_graph(Y, threshold=0.3)
    x = torch.randn(4, 5)
    src, dst = g.edge_index
    out = scatter(g.edge_weight[:, None] * x[src], dst, dim=0, dim_size=4, reduce="sum")
    assert torch.allclose(out, g.adj_norm @ x, atol=1e-6)


def test_counts_form_equals_labels_form():
    rng = np.random.default_rng(0)
    y = (rng.random((40, 6)) < 0.35).astype(np.int64)
    g1 = cooccurrence_graph(y, threshold=0.3)
    co = y.T @ y
    np.fill_diagonal(co, 0)  # ML-GCN's files store zeros on the diagonal
    g2 = cooccurrence_graph(counts=y.sum(0), co_counts=co, threshold=0.3)
    for key in ("cond_prob", "adj", "adj_reweighted", "adj_norm", "edge_index", "edge_weight"):
        assert torch.equal(getattr(g1, key), getattr(g2, key)), key
    g3 = cooccurrence_graph(torch.from_numpy(y).bool(), threshold=0.3)
    assert torch.equal(g1.adj_norm, g3.adj_norm)


def test_released_code_matrix_differs_from_paper():
    g = cooccurrence_graph(Y)
    code = mlgcn_code_adjacency(g.counts, g.co_counts)
    # B = A*0.25/(colsum+1e-6) + I; B[1, 0] = 0.25, row sums 1.125, 1.25 -> (B^T)[0, 1] scaled
    assert code[0, 1].item() == pytest.approx(0.25 / np.sqrt(1.125 * 1.25), rel=1e-5)
    assert not torch.allclose(code, g.adj_norm)


@pytest.mark.parametrize("kwargs, match", [
    (dict(labels=np.array([[0, 2]])), "multi-hot"),
    (dict(labels=np.zeros(3)), r"\[N, C\]"),
    (dict(labels=np.array([[0, np.nan]])), "NaN"),
    (dict(counts=[1, 1], co_counts=np.zeros((3, 3))), "co_counts"),
    (dict(counts=[1, 1], co_counts=[[0, 2], [2, 0]]), "exceeds"),
    (dict(counts=[1, -1], co_counts=np.zeros((2, 2))), "non-negative"),
    (dict(counts=[1, 1]), "co_counts"),
    (dict(labels=Y, counts=[1, 1, 1, 1], co_counts=np.zeros((4, 4))), "not both"),
    (dict(labels=Y, threshold=1.5), "threshold"),
    (dict(labels=Y, reweight=2.0), "reweight"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(GraphclsError, match=match):
        cooccurrence_graph(**kwargs)


def test_label_mask():
    g = cooccurrence_graph(Y, threshold=0.4)
    m = label_mask(g)
    assert m.dtype == torch.bool and m.diagonal().all()
    assert torch.equal(m & ~torch.eye(4, dtype=torch.bool), g.adj)
    assert not label_mask(g, self_loops=False).diagonal().any()
    # write-up threshold 0.1 now keeps P(3|1) = 1/3 too
    assert bool(label_mask(g, threshold=0.1)[1, 3])
    assert label_mask([[0, 1], [0, 0]]).tolist() == [[True, True], [False, True]]
    with pytest.raises(GraphclsError, match="square"):
        label_mask(np.zeros((2, 3)))


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_save_load_roundtrip(tmp_path, suffix):
    g = cooccurrence_graph(Y, threshold=0.3, reweight=0.25, names=list("abcd"))
    path = save_label_graph(g, tmp_path / f"g{suffix}")
    h = load_label_graph(path)
    for key in ("cond_prob", "adj", "adj_norm", "edge_index", "edge_weight", "counts"):
        assert torch.equal(getattr(g, key), getattr(h, key)), key
    assert (h.threshold, h.reweight, h.names, h.num_samples) == (0.3, 0.25, list("abcd"), 4)
    if suffix == ".npz":  # plain arrays: readable without pickle
        with np.load(path, allow_pickle=False) as z:
            assert json.loads(str(z["meta"]))["threshold"] == 0.3


def test_save_load_without_optional_fields(tmp_path):
    co = Y.T @ Y
    g = cooccurrence_graph(counts=Y.sum(0), co_counts=co, reweight=None)
    assert getattr(g, "num_samples", None) is None and getattr(g, "reweight", None) is None
    h = load_label_graph(save_label_graph(g, tmp_path / "g.npz"))
    assert torch.equal(g.adj_norm, h.adj_norm) and getattr(h, "reweight", None) is None


def test_load_refuses_bad_files(tmp_path):
    p = tmp_path / "obj.npz"
    np.savez(p, meta=np.array([{"a": 1}], dtype=object), counts=np.ones(2))
    with pytest.raises(GraphclsError):
        load_label_graph(p)
    g = cooccurrence_graph(Y)
    save_label_graph(g, tmp_path / "g.json")
    obj = json.loads((tmp_path / "g.json").read_text())
    obj["adj_norm"][0][0] = 0.5
    (tmp_path / "bad.json").write_text(json.dumps(obj))
    with pytest.raises(GraphclsError, match="does not match"):
        load_label_graph(tmp_path / "bad.json")
    with pytest.raises(GraphclsError, match=".npz or .json"):
        save_label_graph(g, tmp_path / "g.pkl")
    with pytest.raises(GraphclsError, match="not found"):
        load_label_graph(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(GraphclsError):
        load_label_graph(tmp_path / "junk.npz")


@settings(max_examples=25, deadline=None)
@given(arrays(np.int8, st.tuples(st.integers(0, 12), st.integers(1, 6)), elements=st.integers(0, 1)),
       st.floats(0.0, 1.0), st.sampled_from([None, 0.0, 0.2, 1.0]))
def test_properties(y, tau, p):
    g = cooccurrence_graph(y, threshold=tau, reweight=p)
    c = y.shape[1]
    for key in ("cond_prob", "adj_reweighted", "adj_norm", "edge_weight"):
        assert torch.isfinite(getattr(g, key)).all()
    assert ((g.cond_prob >= 0) & (g.cond_prob <= 1)).all()
    assert not g.adj.diagonal().any()
    never = y.sum(0) == 0
    assert (g.cond_prob[torch.from_numpy(never)] == 0).all()
    if p is not None:
        assert torch.allclose(g.adj_reweighted.sum(1), torch.ones(c), atol=1e-6)
    dense = torch.zeros(c, c)
    dense[g.edge_index[1], g.edge_index[0]] = g.edge_weight
    assert torch.allclose(dense, g.adj_norm)
