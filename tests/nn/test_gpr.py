"""GPRProp against the dense polynomial of the normalised adjacency."""
import torch
from torch_geometric.data import Batch, Data

from pyg_graphcls.nn import GPRProp


def toy_batch(n_graphs=1, n=5, f=2):
    g = torch.Generator().manual_seed(0)
    data = []
    for i in range(n_graphs):
        ei = torch.tensor([[j for j in range(n)] + [(j + 1) % n for j in range(n)],
                           [(j + 1) % n for j in range(n)] + [j for j in range(n)]])
        data.append(Data(x=torch.rand(n, f, generator=g), edge_index=ei, y=torch.tensor([i % 2])))
    return Batch.from_data_list(data)


def test_gpr_prop_dense_polynomial():
    b = toy_batch(n_graphs=1, n=5, f=2)
    prop = GPRProp(K=3, alpha=0.2)
    n = b.num_nodes
    A = torch.zeros(n, n)
    A[b.edge_index[1], b.edge_index[0]] = 1
    A_hat = A + torch.eye(n)
    d = A_hat.sum(1).pow(-0.5)
    P = d[:, None] * A_hat * d[None, :]
    g = prop.gamma.detach()
    assert torch.allclose(g, torch.tensor([0.2, 0.16, 0.128, 0.512]))
    ref = sum(g[k] * torch.linalg.matrix_power(P, k) @ b.x for k in range(4))
    assert torch.allclose(prop(b.x, b.edge_index), ref, atol=1e-6)
