"""The packed dense training path against PyG's DataLoader + GCNConv model."""
import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import to_dense_adj

from pyg_graphcls.graphs.storage import storage_to_list
from pyg_graphcls.graphs.superpixels import superpixel_graphs
from pyg_graphcls.models import create_model
from pyg_graphcls.train import Trainer
from pyg_graphcls.train.fast import PackedGraphs


@pytest.fixture
def graphs(digits):
    imgs, labels = digits
    store = superpixel_graphs(imgs, labels, edge_attr=("distance", "gaussian"))
    return store, storage_to_list(*store)


def test_packed_batches_equal_batch_from_data_list(graphs):
    store, lst = graphs
    packed = PackedGraphs(store)
    idx = torch.tensor([3, 0, 17, 9])
    dense = packed.batch(idx)
    ref = Batch.from_data_list([lst[i] for i in idx.tolist()])
    assert torch.equal(dense.x[dense.mask], ref.x)
    assert torch.equal(dense.y, ref.y)
    assert torch.equal(dense.mask.sum(1), torch.bincount(ref.batch))
    ei, w = gcn_norm(ref.edge_index, None, ref.num_nodes, add_self_loops=True)
    adj = to_dense_adj(ei, ref.batch, w, max_num_nodes=packed.max_nodes)  # adj[b, src, dst]
    assert torch.allclose(dense.adj, adj.transpose(1, 2), atol=1e-7)
    assert torch.allclose(dense.ax, torch.bmm(dense.adj, dense.x), atol=1e-6)


@pytest.mark.parametrize("name,kw", [("gcn", {}), ("gcn", {"readout": "max+mean+sum", "num_layers": 2}),
                                     ("gcn", {"edge_weight": True}), ("mlp", {})])
def test_dense_logits_equal_pyg_model(graphs, name, kw):
    store, lst = graphs
    packed = PackedGraphs(store, edge_weight_column=0 if kw.get("edge_weight") else None)
    torch.manual_seed(0)
    model = create_model(name, in_channels=packed.num_features, num_classes=10, **kw).eval()
    ref = model(Batch.from_data_list(lst))
    out = model(packed.batch(torch.arange(len(lst))))
    assert torch.allclose(out, ref, atol=1e-5)


def test_gradients_equal_pyg_model(graphs):
    store, lst = graphs
    packed = PackedGraphs(store)
    torch.manual_seed(0)
    model = create_model("gcn", in_channels=packed.num_features, num_classes=10)
    y = torch.tensor([g.y.item() for g in lst])
    grads = []
    for batch in (Batch.from_data_list(lst), packed.batch(torch.arange(len(lst)))):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(batch), y).backward()
        grads.append(torch.cat([p.grad.view(-1) for p in model.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


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
    from torch_geometric.data import Data
    store, lst = graphs
    a, b, c = PackedGraphs(store), PackedGraphs(lst), PackedGraphs((Data.from_dict(store[0]), store[1]))
    idx = torch.arange(5)
    for other in (b, c):
        assert torch.equal(a.batch(idx).x, other.batch(idx).x) and torch.equal(a.batch(idx).adj, other.batch(idx).adj)
    with pytest.raises(Exception, match="PackedGraphs needs"):
        PackedGraphs([1, 2, 3])
