"""PackedGraphs / PackedLoader: the padded neighbour storage against Batch.from_data_list, and the Trainer on it."""
import pytest
import torch
from torch_geometric.data import Batch, Data, InMemoryDataset

from pyg_graphcls.graphs import superpixel_graph
from pyg_graphcls.models import create_model
from pyg_graphcls.train import Trainer
from pyg_graphcls.train.fast import PackedGraphs, pack_rule


@pytest.fixture
def graphs(digits):
    imgs, labels = digits
    lst = [superpixel_graph(im, y=int(lab), edge_attr=("distance", "gaussian")) for im, lab in zip(imgs, labels)]
    data, slices = InMemoryDataset.collate(lst)
    return (data.to_dict(), slices), lst


def test_packed_batches_equal_batch_from_data_list(graphs):
    store, lst = graphs
    packed = PackedGraphs(store)
    idx = torch.tensor([3, 0, 17, 9])
    dense = packed.batch(idx)
    ref = Batch.from_data_list([lst[i] for i in idx.tolist()])
    assert torch.equal(dense.x[dense.mask], ref.x) and torch.equal(dense.pos[dense.mask], ref.pos)
    assert torch.equal(dense.y, ref.y)
    assert torch.equal(dense.mask.sum(1), torch.bincount(ref.batch))
    # the neighbour table holds exactly the edges of the batch: rebuild edge_index from it
    B, N, k = dense.nbr.shape
    ptr = torch.cumsum(dense.mask.sum(1), 0) - dense.mask.sum(1)
    real = dense.mask.unsqueeze(-1).expand(B, N, k) if dense.nbr_mask is None else dense.nbr_mask
    b, i, s = real.nonzero(as_tuple=True)
    rebuilt = torch.stack([dense.nbr[b, i, s] + ptr[b], i + ptr[b]])
    key = lambda e: (e[0] * 10_000 + e[1]).sort().values  # noqa: E731
    assert torch.equal(key(rebuilt), key(ref.edge_index))
    assert dense.edge_attr.shape == (B, N, k, ref.edge_attr.size(1))


@pytest.mark.parametrize("name,kw", [("gcn", {}), ("gcn", {"readout": "max+mean+sum", "num_layers": 2}),
                                     ("gcn", {"edge_weight": True}), ("mlp", {})])
def test_dense_logits_equal_pyg_model(graphs, name, kw):
    store, lst = graphs
    packed = PackedGraphs(store)
    torch.manual_seed(0)
    model = create_model(name, in_channels=packed.num_features, num_classes=10, **kw).eval()
    ref = model(Batch.from_data_list(lst))
    out = model(packed.batch(torch.arange(len(lst))))
    assert torch.allclose(out, ref, atol=1e-5)


def test_trainer_runs_on_packed_graphs(graphs):
    store, lst = graphs
    packed = PackedGraphs(store)
    assert len(packed[torch.arange(10)]) == 10 and len(PackedGraphs(lst)) == len(lst)
    torch.manual_seed(0)
    model = create_model("gcn", in_channels=packed.num_features, num_classes=10)
    t = Trainer(model, epochs=2, batch_size=16, lr=1e-2, progress=False, eval_train_size=0)
    t.fit(packed[:32], packed[32:])
    m = t.evaluate(packed[32:])
    assert 0.0 <= m["accuracy"] <= 1.0 and len(t.history) == 2
    loader = packed.loader(16, shuffle=True, generator=torch.Generator().manual_seed(0))
    seen = torch.cat([b.y for b in loader])
    assert len(loader) == 3 and seen.numel() == len(packed)


def test_packed_graphs_inputs_agree_and_bad_input_is_named(graphs):
    store, lst = graphs
    a, b, c = PackedGraphs(store), PackedGraphs(lst), PackedGraphs((Data.from_dict(store[0]), store[1]))
    idx = torch.arange(5)
    for other in (b, c):
        assert torch.equal(a.batch(idx).x, other.batch(idx).x) and torch.equal(a.batch(idx).nbr, other.batch(idx).nbr)
    with pytest.raises(Exception, match="PackedGraphs needs"):
        PackedGraphs([1, 2, 3])
    with pytest.raises(Exception, match="max_degree"):
        PackedGraphs(lst, max_degree=2)


def test_pack_rule(graphs):
    store, lst = graphs
    assert pack_rule(lst) is None and pack_rule(store) is None
    hub = Data(x=torch.rand(40, 3), edge_index=torch.stack([torch.arange(1, 40), torch.zeros(39, dtype=torch.long)]),
               y=torch.tensor([0]))  # one node receives 39 edges, the others none
    assert "in-degree" in pack_rule([hub])
    small = [Data(x=torch.rand(n, 3), edge_index=torch.zeros(2, 0, dtype=torch.long), y=torch.tensor([0]))
             for n in [10] * 20 + [1000]]
    assert "uneven" in pack_rule(small) and pack_rule(small[:-1]) is None
    assert "labels" in pack_rule([Data(x=torch.rand(3, 1), edge_index=torch.zeros(2, 0, dtype=torch.long),
                                       y=torch.tensor([[0, 1]]))])


def test_one_graph_packs(graphs):
    """PyG keeps a one-graph InMemoryDataset without slices; it still packs."""
    from torch_geometric.data import InMemoryDataset

    class One(InMemoryDataset):
        def __init__(self, g):
            super().__init__()
            self.data, self.slices = self.collate([g])

    _, lst = graphs
    ds = One(lst[0])
    assert ds.slices is None and pack_rule(ds) is None
    p = PackedGraphs(ds)
    assert len(p) == 1 and int(p.num_nodes[0]) == lst[0].num_nodes
