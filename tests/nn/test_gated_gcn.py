"""GatedGCNLayer against a per-node loop over its incoming edges."""
import torch

from pyg_graphcls.nn import GatedGCNLayer


def test_gated_gcn_layer_against_loop():
    torch.manual_seed(0)
    n, d = 5, 4
    h, ei = torch.randn(n, d), torch.tensor([[1, 2, 3, 0, 4, 4], [0, 0, 1, 2, 2, 3]])
    e = torch.randn(ei.size(1), d)
    layer = GatedGCNLayer(d).eval()  # BatchNorm with its initial running statistics: x / sqrt(1 + eps)
    out_h, out_e = layer(h, e, ei)
    bn = (1 + layer.bn_h.eps) ** -0.5
    with torch.no_grad():
        for i in range(n):
            num, den = torch.zeros(d), torch.zeros(d)
            e_hats = {}
            for k, (j, t) in enumerate(ei.T.tolist()):
                if t != i:
                    continue
                e_hat = layer.C(e[k]) + layer.D(h[i]) + layer.E(h[j])
                e_hats[k] = e_hat
                num += torch.sigmoid(e_hat) * layer.B(h[j])
                den += torch.sigmoid(e_hat)
            want = h[i] + torch.relu(bn * (layer.A(h[i]) + num / (den + 1e-6)))
            assert torch.allclose(out_h[i], want, atol=1e-5), i
            for k, e_hat in e_hats.items():
                assert torch.allclose(out_e[k], e[k] + torch.relu(bn * e_hat), atol=1e-5)
    last = GatedGCNLayer(d, update_edges=False).eval()
    assert last.bn_e is None and torch.equal(last(h, e, ei)[1], e)
