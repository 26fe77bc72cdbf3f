"""Explanations: PyG's Explainer runs on our models, and the importance it gives means something."""
import importlib.util

import pytest
import torch
from torch_geometric.data import Batch, Data

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.explain import ExplainAdapter, explain_graph, has_message_passing, node_importance
from pyg_graphcls.models import create_model

N = 12


def ring_graph(hot: int | None, gen: torch.Generator) -> Data:
    """12 nodes on a circle, each joined to its 2 neighbours on each side; one 'hot' node makes class 1."""
    x = torch.rand(N, 2, generator=gen) * 0.3
    if hot is not None:
        x[hot, 0] = 1.0
    ang = torch.arange(N) * (2 * torch.pi / N)
    pos = torch.stack([10 + 8 * ang.cos(), 10 + 8 * ang.sin()], 1)
    src = torch.arange(N).repeat(4)
    dst = torch.cat([(torch.arange(N) + s) % N for s in (1, 2, -1, -2)])
    return Data(x=x, pos=pos, edge_index=torch.stack([src, dst]), y=torch.tensor([int(hot is not None)]),
                image_size=torch.tensor([[20, 20]]))


def dataset(n: int, seed: int) -> list[Data]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        hot = int(torch.randint(N, (1,), generator=gen)) if i % 2 else None
        out.append(ring_graph(hot, gen))
    return out


@pytest.fixture(scope="module")
def trained_gcn():
    torch.manual_seed(0)
    model = create_model("gcn", in_channels=2, num_classes=2, hidden=16, num_layers=2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    data = dataset(256, 0)
    for step in range(120):
        batch = Batch.from_data_list(data[(step * 32) % 256:(step * 32) % 256 + 32])
        loss = torch.nn.functional.cross_entropy(model(batch), batch.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    test = Batch.from_data_list(dataset(64, 1))
    acc = (model(test).argmax(-1) == test.y).float().mean().item()
    assert acc > 0.9, acc  # the task is learnt, so its explanations can be judged
    return model


def test_adapter_calls_model_like_a_batch():
    torch.manual_seed(0)
    model = create_model("gcn", in_channels=2, num_classes=3).eval()
    g = dataset(2, 3)
    b = Batch.from_data_list(g)
    ref = model(b)
    out = ExplainAdapter(model)(b.x, b.edge_index, pos=b.pos, batch=b.batch)
    assert torch.allclose(out, ref)
    one = ExplainAdapter(model)(g[0].x, g[0].edge_index)  # no batch: one graph
    assert torch.allclose(one, ref[:1], atol=1e-6)


def test_saliency_is_the_gradient(trained_gcn):
    g = dataset(2, 5)[1]
    expl = explain_graph(trained_gcn, g, "saliency", target=1)
    assert expl.node_mask.shape == (N, 2) and expl.edge_mask.shape == (g.edge_index.size(1),)
    # independent check: central finite difference of the explained logit
    i, f, eps = int(g.x[:, 0].argmax()), 0, 1e-3

    def logit(x):
        return trained_gcn(Data(x=x, edge_index=g.edge_index, pos=g.pos))[0, 1].item()
    xp, xm = g.x.clone(), g.x.clone()
    xp[i, f] += eps
    xm[i, f] -= eps
    fd = abs(logit(xp) - logit(xm)) / (2 * eps)
    assert expl.node_mask[i, f].item() == pytest.approx(fd, rel=0.05, abs=1e-4)


def test_deleting_important_nodes_changes_more_than_random(trained_gcn):
    """Deletion test: removing the top node by importance moves the prediction more than a random node."""
    gen = torch.Generator().manual_seed(7)
    drop_top, drop_rand = [], []
    for g in dataset(40, 9)[1::2]:  # class-1 graphs
        p = trained_gcn(g).softmax(-1)[0, 1].item()
        imp = node_importance(explain_graph(trained_gcn, g, "saliency"))
        top = int(imp.argmax())
        keep = torch.ones(N, dtype=torch.bool)
        keep[top] = False
        drop_top.append(p - trained_gcn(g.subgraph(keep)).softmax(-1)[0, 1].item())
        for _ in range(3):
            keep = torch.ones(N, dtype=torch.bool)
            keep[int(torch.randint(N, (1,), generator=gen))] = False
            drop_rand.append(p - trained_gcn(g.subgraph(keep)).softmax(-1)[0, 1].item())
    mean_top = sum(drop_top) / len(drop_top)
    mean_rand = sum(drop_rand) / len(drop_rand)
    assert mean_top > 0.5 and mean_top > mean_rand + 0.3, (mean_top, mean_rand)


def test_gnnexplainer_and_models_without_message_passing(trained_gcn):
    g = dataset(2, 4)[1]
    torch.manual_seed(0)
    expl = explain_graph(trained_gcn, g, "gnnexplainer", epochs=20)
    assert expl.node_mask.shape == (N, 2) and expl.edge_mask.shape == (g.edge_index.size(1),)
    assert int(expl.target) in (0, 1) and expl.prediction.shape == (1, 2)
    dir_model = create_model("dirconv", in_channels=2, num_classes=2, hidden=8, num_layers=1)
    assert has_message_passing(trained_gcn) and not has_message_passing(dir_model)
    e2 = explain_graph(dir_model, g, "saliency")
    assert getattr(e2, "edge_mask", None) is None and e2.node_mask.shape == (N, 2)


@pytest.mark.skipif(importlib.util.find_spec("captum") is None, reason="needs captum")
def test_integrated_gradients(trained_gcn):
    g = dataset(2, 4)[1]
    expl = explain_graph(trained_gcn, g, "integrated-gradients")
    imp = node_importance(expl)
    assert int(imp.argmax()) == int(g.x[:, 0].argmax())  # the hot node


def test_bad_arguments(trained_gcn):
    g = dataset(2, 4)[1]
    with pytest.raises(GraphclsError, match="method"):
        explain_graph(trained_gcn, g, "lime")
    with pytest.raises(GraphclsError, match="target 5"):
        explain_graph(trained_gcn, g, target=5)
    with pytest.raises(GraphclsError, match="x and edge_index"):
        explain_graph(trained_gcn, Data(pos=g.pos))
