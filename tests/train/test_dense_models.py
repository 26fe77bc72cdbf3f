"""The padded neighbour path against the PyG path: same logits and gradients for every model that has both."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch, Data

from pyg_graphcls.models import create_model
from pyg_graphcls.train.fast import PackedGraphs

MODELS = [("mlp", {}), ("gcn", {}), ("gcn", {"edge_weight": True}), ("gat", {}), ("gpr", {"K": 3}),
          ("dirconv", {}), ("dirconv", {"aggr": "sum", "num_layers": 2}), ("gatedgcn", {})]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def superpixel_list(digits, n=12):
    from pyg_graphcls.graphs import superpixel_graph
    imgs, labels = digits
    # scikit-image's SLIC: region counts differ between images (the default batched method gives exactly 75)
    return [superpixel_graph(im, y=int(lab), n_segments=75, method="skimage", features=["mean", "centroid"],
                             edges="knn", k=8, edge_attr=["distance", "cartesian"])
            for im, lab in zip(imgs[:n], labels[:n])]


def irregular(graphs, seed=0):
    """Drop some edges (fewer in-edges), duplicate some, add self-loops; sizes differ already."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i, d in enumerate(graphs):
        e = d.edge_index.size(1)
        keep = torch.rand(e, generator=g) > 0.2
        dup = torch.randint(0, e, (5,), generator=g)
        loops = torch.arange(0, d.num_nodes, 7)
        ei = torch.cat([d.edge_index[:, keep], d.edge_index[:, dup], loops.repeat(2, 1)], 1)
        ea = torch.cat([d.edge_attr[keep], d.edge_attr[dup], torch.rand(loops.numel(), 3, generator=g)])
        extra = {"image_size": torch.tensor([[28, 28]])} if i % 2 else {}
        out.append(Data(x=d.x, pos=d.pos, edge_index=ei, edge_attr=ea.abs() + 0.1, y=d.y, **extra))
    return out


def grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def compare(name, kw, graphs, device="cpu", atol=1e-5):
    torch.manual_seed(0)
    model = create_model(name, in_channels=graphs[0].x.size(1), num_classes=10, **kw).to(device)
    assert model.supports_dense
    packed = PackedGraphs(graphs).to(device)
    sparse = Batch.from_data_list(graphs).to(device)
    dense = packed.batch(torch.arange(len(graphs)))
    y = sparse.y
    for mode in ("train", "eval"):
        model.train(mode == "train")
        out, g, stats = [], [], []
        for batch in (sparse, dense):
            state = {k: v.clone() for k, v in model.state_dict().items()}
            model.zero_grad()
            logits = model(batch)
            F.cross_entropy(logits, y).backward()
            out.append(logits.detach())
            g.append(grads(model))
            stats.append({k: v.clone() for k, v in model.state_dict().items()})
            model.load_state_dict(state)  # the next path starts from the same BatchNorm statistics
        assert torch.allclose(out[0], out[1], atol=atol), (mode, (out[0] - out[1]).abs().max())
        assert g[0].keys() == g[1].keys() and g[0]
        for k in g[0]:
            assert torch.allclose(g[0][k], g[1][k], atol=atol), (mode, k, (g[0][k] - g[1][k]).abs().max())
        for k in stats[0]:  # running BatchNorm statistics over the real nodes (and edges) only
            assert torch.allclose(stats[0][k].float(), stats[1][k].float(), atol=atol), (mode, k)


@pytest.mark.parametrize("name,kw", MODELS)
def test_dense_equals_sparse_on_knn_graphs(digits, name, kw):
    graphs = superpixel_list(digits)
    assert len({g.num_nodes for g in graphs}) > 1  # graphs of different sizes in one batch
    compare(name, kw, graphs)
    same = [graphs[0], graphs[0].clone(), graphs[0].clone()]  # no padding at all
    same[1].x = same[1].x.flip(0)
    compare(name, kw, same)


@pytest.mark.parametrize("name,kw", MODELS)
def test_dense_equals_sparse_with_missing_duplicate_and_self_edges(digits, name, kw):
    graphs = irregular(superpixel_list(digits))
    assert PackedGraphs(graphs).nbr_mask is not None
    compare(name, kw, graphs)


@CUDA
@pytest.mark.parametrize("name,kw", MODELS)
def test_dense_equals_sparse_on_cuda(digits, name, kw):
    compare(name, kw, irregular(superpixel_list(digits)), device="cuda", atol=1e-4)


def test_state_dict_moves_between_paths(digits):
    graphs = superpixel_list(digits)
    torch.manual_seed(0)
    a = create_model("dirconv", in_channels=3, num_classes=10)
    opt = torch.optim.Adam(a.parameters(), 1e-2)
    packed = PackedGraphs(graphs)
    for b in packed.loader(4, shuffle=True, generator=torch.Generator().manual_seed(0)):
        opt.zero_grad()
        F.cross_entropy(a(b), b.y).backward()
        opt.step()
    b = create_model("dirconv", in_channels=3, num_classes=10)
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    assert torch.allclose(a(packed.batch(torch.arange(len(graphs)))), b(Batch.from_data_list(graphs)), atol=1e-5)


def test_packed_neighbour_table_lists_the_edges(digits):
    graphs = irregular(superpixel_list(digits, 4))
    p = PackedGraphs(graphs)
    for gi, d in enumerate(graphs):
        n = d.num_nodes
        assert p.num_nodes[gi] == n and bool(p.mask[gi, :n].all()) and not bool(p.mask[gi, n:].any())
        assert torch.equal(p.x[gi, :n], d.x) and torch.equal(p.pos[gi, :n], d.pos)
        for i in range(n):
            real = p.nbr_mask[gi, i]
            into = d.edge_index[1] == i
            assert p.nbr[gi, i][real].tolist() == d.edge_index[0, into].tolist()  # edge_index order
            assert torch.equal(p.edge_attr[gi, i][real], d.edge_attr[into])
            assert bool((p.nbr[gi, i][~real] == i).all())


def test_models_without_a_dense_path_say_so():
    assert not create_model("dirconv-grid", in_channels=3, num_classes=10).supports_dense
    assert not getattr(create_model("cnn", in_channels=1, num_classes=10), "supports_dense", False)
