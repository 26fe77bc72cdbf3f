"""The graph and image models: dirconv, dirconv-grid, gatedgcn, raster, cnn (forward, budget, config
round trip, learning), the dense grid path against message passing, image sizes from the data."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch, Data

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import pixel_grid_graph
from pyg_graphcls.graphs.augment import rotate_pos
from pyg_graphcls.models import create_model, model_config, model_from_config
from pyg_graphcls.nn import full_grid_layout

BUDGET = 100_000


def _inputs(name, real_images, sp_graphs, grid_graphs, n=4):
    """(model input, labels, in_channels) for a model's kind of data."""
    if name == "cnn":
        x, y = real_images
        return torch.from_numpy(x[:n]).float().div(255).unsqueeze(1), torch.from_numpy(y[:n]).long(), 1
    graphs = grid_graphs if name == "dirconv-grid" else sp_graphs
    b = Batch.from_data_list(graphs[:n])
    return b, b.y, b.x.size(1)


STRONG = ["dirconv", "dirconv-grid", "gatedgcn", "raster", "cnn"]


@pytest.mark.parametrize("name", STRONG)
def test_strong_forward_backward_budget(name, real_images, sp_graphs, grid_graphs):
    inp, y, f = _inputs(name, real_images, sp_graphs, grid_graphs)
    torch.manual_seed(0)
    m = create_model(name, in_channels=f, num_classes=10)
    assert sum(p.numel() for p in m.parameters()) <= BUDGET
    out = m(inp)
    assert out.shape == (4, 10) and torch.isfinite(out).all()
    F.cross_entropy(out, y).backward()
    grads = [p.grad for p in m.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(int(g.abs().sum() > 0) for g in grads) >= len(grads) - 1
    before = [p.detach().clone() for p in m.parameters()]
    m.reset_parameters()
    assert any(not torch.equal(a, p) for a, p in zip(before, m.parameters()))
    rebuilt = model_from_config(model_config(m))
    rebuilt.load_state_dict(m.state_dict())
    m.eval(), rebuilt.eval()
    assert torch.allclose(rebuilt(inp), m(inp), atol=1e-5)


@pytest.mark.parametrize("name", STRONG)
def test_strong_tiny_run_learns(name, real_images, sp_graphs, grid_graphs):
    n = 8 if name == "dirconv-grid" else 32
    inp, y, f = _inputs(name, real_images, sp_graphs, grid_graphs, n=n)
    torch.manual_seed(0)
    kw = {"dirconv-grid": {"widths": (8, 8, 8), "pool_after": (0,), "pool_sizes": (2.0,)},
          "cnn": {"widths": (8, 8, 8), "pool_after": (0,)},
          "raster": {"graph_widths": (16,), "cnn_widths": (16, 16)}}.get(name, {"hidden": 16, "num_layers": 2})
    m = create_model(name, in_channels=f, num_classes=10, **kw)
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    m.train()
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = F.cross_entropy(m(inp), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_graph_models_need_pos(sp_graphs):
    g = sp_graphs[0].clone()
    del g.pos
    m = create_model("dirconv", in_channels=g.x.size(1), num_classes=10)
    with pytest.raises(GraphclsError, match="pos"):
        m(Batch.from_data_list([g]))


def _permute_nodes(b, perm):
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel())
    out = b.clone()
    out.x, out.pos, out.batch = b.x[perm], b.pos[perm], b.batch[perm]
    out.edge_index = inv[b.edge_index]
    return out


def test_dirconv_grid_dense_path_equals_message_passing(grid_graphs, monkeypatch):
    """Batches of complete grids take the conv2d path (also with nodes shuffled): same logits, same gradients."""
    torch.manual_seed(0)
    b = Batch.from_data_list(grid_graphs[:3])
    shuffled = _permute_nodes(b, torch.randperm(b.num_nodes))
    model = create_model("dirconv-grid", in_channels=b.x.size(1), num_classes=10)
    model.train()  # BatchNorm on batch statistics: the node sets must match exactly
    calls = []
    real = type(model)._forward_grid
    monkeypatch.setattr(type(model), "_forward_grid", lambda self, *a: calls.append(1) or real(self, *a))

    def run(data, dense):
        model.dense_grid = dense
        model.zero_grad()
        out = model(data)
        out.square().sum().backward()
        return out.detach(), [p.grad.clone() for p in model.parameters()]

    ref, ref_g = run(b, False)
    assert not calls
    for data in (b, shuffled):
        out, grads = run(data, True)
        assert torch.allclose(out, ref, atol=1e-4)
        assert all(torch.allclose(g, r, atol=1e-3, rtol=1e-3) for g, r in zip(grads, ref_g))
    assert len(calls) == 2
    h, w, order = full_grid_layout(shuffled.pos, shuffled.edge_index, shuffled.batch, 3)
    assert (h, w) == (28, 28) and torch.equal(shuffled.pos[order], b.pos)


def test_full_grid_layout_rejects_incomplete_grids(grid_graphs):
    """Anything but complete 8-neighbour grids goes to message passing (and the model still runs on it)."""
    b = Batch.from_data_list(grid_graphs[:2])
    assert full_grid_layout(b.pos, b.edge_index, b.batch, 2) is not None
    ei = b.edge_index
    loops = torch.arange(4).repeat(2, 1)
    four = pixel_grid_graph(np.zeros((28, 28), np.uint8), connectivity=4)
    cases = {
        "edge missing": (b.pos, ei[:, 1:]),
        "edge doubled": (b.pos, torch.cat([ei[:, 1:], ei[:, 1:2]], 1)),
        "self-loop instead of an edge": (b.pos, torch.cat([ei[:, 4:], loops], 1)),
        "4-neighbour grid": (four.pos.repeat(2, 1), torch.cat([four.edge_index, four.edge_index + 784], 1)),
        "rotated positions": (rotate_pos(b.pos, 10.0, (28, 28)), ei),
        "a position twice": (torch.cat([b.pos[:1], b.pos[:1], b.pos[2:]]), ei),
        "edge across graphs": (b.pos, torch.cat([ei[:, 1:], torch.tensor([[0], [784 + 1]])], 1)),
    }
    for name, (pos, edges) in cases.items():
        assert full_grid_layout(pos, edges, b.batch, 2) is None, name
    model = create_model("dirconv-grid", in_channels=b.x.size(1), num_classes=10).eval()
    odd = Batch.from_data_list([pixel_grid_graph(np.zeros((6, 7), np.uint8), connectivity=8, position=True)])
    assert full_grid_layout(odd.pos, odd.edge_index, odd.batch, 1) is not None  # complete, but 7 % 4 != 0
    assert model(odd).shape == (1, 10)
    dropped = b.clone()
    dropped.edge_index = ei[:, 1:]
    assert torch.isfinite(model(dropped)).all()


def test_cnn_refuses_graphs(sp_graphs):
    m = create_model("cnn", in_channels=1, num_classes=10)
    with pytest.raises(GraphclsError, match="images"):
        m(Batch.from_data_list(sp_graphs[:2]))
    with pytest.raises(GraphclsError, match="images"):
        m(torch.rand(2, 3, 28, 28))


# ------------------------------------------------------------------ image sizes from the data
def test_image_sides_from_image_size_and_fallback():
    from pyg_graphcls.models.inputs import image_sides
    g1 = Data(x=torch.zeros(3, 1), pos=torch.tensor([[0.0, 0.0], [26.2, 3.0], [5.0, 20.0]]))
    g2 = Data(x=torch.zeros(2, 1), pos=torch.tensor([[0.0, 0.0], [9.0, 4.5]]))
    b = Batch.from_data_list([g1, g2])
    # no image_size: ceil(max pos) + 1 per graph, by hand
    assert image_sides(b, b.batch, 2).tolist() == [28.0, 10.0]
    for g, (h, w) in ((g1, (20, 40)), (g2, (12, 7))):
        g.image_size = torch.tensor([[h, w]])
    b = Batch.from_data_list([g1, g2])
    assert b.image_size.shape == (2, 2)
    assert image_sides(b, b.batch, 2).tolist() == [40.0, 12.0]  # max(H, W) per graph
    assert image_sides(g1, torch.zeros(3, dtype=torch.long), 1).tolist() == [40.0]  # a single Data
    bad = b.clone()
    bad.image_size = torch.tensor([[28, 28]])
    with pytest.raises(GraphclsError, match="image_size"):
        image_sides(bad, bad.batch, 2)


def test_gatedgcn_reads_the_image_size(sp_graphs):
    """Edge features are offsets over the image side: a graph scaled 2x with a 2x image_size gives the
    same logits; without image_size the side is the extent of pos (28 for these 28x28 graphs)."""
    torch.manual_seed(0)
    g = sp_graphs[0]
    m = create_model("gatedgcn", in_channels=g.x.size(1), num_classes=10).eval()
    plain = m(Batch.from_data_list([g]))
    g28 = g.clone()
    g28.image_size = torch.tensor([[28, 28]])
    assert torch.equal(m(Batch.from_data_list([g28])), plain)
    big = g28.clone()
    big.pos, big.image_size = g.pos * 2, torch.tensor([[56, 56]])
    assert torch.allclose(m(Batch.from_data_list([big])), plain, atol=1e-5)
    big.image_size = torch.tensor([[28, 28]])  # the wrong size: different edge features
    assert (m(Batch.from_data_list([big])) - plain).abs().max() > 1e-4
