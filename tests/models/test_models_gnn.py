"""The gnn family (gcn, gat, gpr, mlp) and the registry."""
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GCNConv

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.models import create_model, list_models, model_arguments, model_config, model_from_config


def toy_batch(n_graphs=3, n=6, f=3):
    g = torch.Generator().manual_seed(0)
    data = []
    for i in range(n_graphs):
        ei = torch.tensor([[j for j in range(n)] + [(j + 1) % n for j in range(n)],
                           [(j + 1) % n for j in range(n)] + [j for j in range(n)]])
        data.append(Data(x=torch.rand(n, f, generator=g), edge_index=ei, y=torch.tensor([i % 2]),
                         edge_attr=torch.rand(2 * n, 1, generator=g)))
    return Batch.from_data_list(data)


@pytest.mark.parametrize("name", ["gcn", "gat", "gpr", "mlp"])
def test_graph_models_forward_backward(name):
    b = toy_batch()
    torch.manual_seed(0)
    m = create_model(name, in_channels=3, num_classes=4)
    out = m(b)
    assert out.shape == (3, 4)
    out.sum().backward()
    grads = [p.grad for p in m.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    before = [p.detach().clone() for p in m.parameters()]
    m.reset_parameters()
    assert any(not torch.equal(a, p) for a, p in zip(before, m.parameters()))
    rebuilt = model_from_config(model_config(m))
    rebuilt.load_state_dict(m.state_dict())
    m.eval(); rebuilt.eval()
    assert torch.allclose(rebuilt(b), m(b))


def test_classic_gcn_shape_and_mlp_ignores_edges():
    m = create_model("gcn", in_channels=1, num_classes=10)
    assert len(m.convs) == 4 and all(isinstance(c, GCNConv) for c in m.convs)
    assert m.convs[0].out_channels == 64 and m.head.in_features == 128  # max ⊕ mean
    b = toy_batch(f=1)
    mlp = create_model("mlp", in_channels=1, num_classes=10).eval()
    b2 = b.clone()
    b2.edge_index = b2.edge_index[:, :3]
    assert torch.allclose(mlp(b), mlp(b2))
    gcn = m.eval()
    assert not torch.allclose(gcn(b), gcn(b2))


def test_registry_errors():
    assert {"gcn", "gat", "gpr", "mlp"} <= set(list_models())
    assert model_arguments("gcn")[:2] == ["in_channels", "num_classes"] and "columns" not in model_arguments("gcn")
    with pytest.raises(GraphclsError, match="unknown model"):
        model_arguments("resnet")
    with pytest.raises(GraphclsError, match="unknown model"):
        create_model("resnet", in_channels=1, num_classes=2)
    with pytest.raises(GraphclsError, match="does not take"):
        create_model("gcn", in_channels=1, num_classes=2, heads=3)
    with pytest.raises(GraphclsError, match="divisible"):
        create_model("gat", in_channels=1, num_classes=2, hidden=10, heads=4)


def test_gcn_edge_weight_option():
    b = toy_batch()
    m = create_model("gcn", in_channels=3, num_classes=2, edge_weight=True).eval()
    out1 = m(b)
    b.edge_attr = b.edge_attr * 0 + 1.0
    out2 = m(b)
    assert not torch.allclose(out1, out2)
