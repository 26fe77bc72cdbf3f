import math

import pytest
import torch
from torch_geometric.nn import GATConv

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.nn.masked_attention import (MaskedGraphAttention, SparseMaskedGraphAttention,
                                              mask_to_edge_index, masked_softmax,
                                              multiply_mask_attention)


def _mask(c=6, seed=0, empty_row=None):
    g = torch.Generator().manual_seed(seed)
    m = torch.rand(c, c, generator=g) < 0.5
    m.fill_diagonal_(True)
    if empty_row is not None:
        m[empty_row] = False
    return m


def test_masked_softmax_hand_example():
    logits = torch.tensor([1.0, 2.0, 3.0])
    mask = torch.tensor([True, False, True])
    w = masked_softmax(logits, mask)
    z = math.e + math.e ** 3
    assert w[1].item() == 0.0
    assert w[0].item() == pytest.approx(math.e / z) and w[2].item() == pytest.approx(math.e ** 3 / z)


def test_multiply_mask_leaks_weight():
    logits = torch.tensor([-2.0, 5.0, -1.0])
    mask = torch.tensor([True, False, True])
    w = multiply_mask_attention(logits, mask)
    z = math.exp(-2) + 1.0 + math.exp(-1)  # the masked entry's logit became 0 -> e^0 = 1
    assert w[1].item() == pytest.approx(1.0 / z)
    assert w[1] > w[0] and w[1] > w[2]  # with negative allowed logits it even gets the most weight
    assert masked_softmax(logits, mask)[1].item() == 0.0
    # and in the layer
    torch.manual_seed(0)
    bad = MaskedGraphAttention(3, 4, heads=2, mask_mode="multiply")
    good = MaskedGraphAttention(3, 4, heads=2)
    good.load_state_dict(bad.state_dict())
    x, m = torch.randn(2, 6, 3), _mask()
    _, wb = bad(x, m, return_attention_weights=True)
    _, wg = good(x, m, return_attention_weights=True)
    outside = ~m.expand_as(wb)
    assert (wb[outside] > 0).all()
    assert (wg[outside] == 0).all()


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_zero_weight_outside_mask(dropout):
    torch.manual_seed(1)
    layer = MaskedGraphAttention(5, 3, heads=3, dropout=dropout).train()
    x, m = torch.randn(4, 6, 5), _mask(seed=1)
    out, w = layer(x, m, return_attention_weights=True)
    assert out.shape == (4, 6, 9) and w.shape == (4, 3, 6, 6)
    assert (w[~m.expand_as(w)] == 0).all()
    assert torch.allclose(w.sum(-1), torch.ones(4, 3, 6), atol=1e-6)


def test_row_without_allowed_entry():
    torch.manual_seed(2)
    layer = MaskedGraphAttention(3, 4, heads=2)
    x, m = torch.randn(2, 5, 3, requires_grad=True), _mask(5, empty_row=1)
    out, w = layer(x, m, return_attention_weights=True)
    assert torch.isfinite(out).all()
    assert (w[:, :, 1] == 0).all()
    # node 1 attends to nothing: its output is the residual plus the bias
    assert torch.allclose(out[:, 1], layer.res(x[:, 1]) + layer.bias, atol=1e-6)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


@pytest.mark.parametrize("concat,residual,heads", [(True, True, 2), (False, True, 3), (True, False, 1),
                                                   (False, False, 2)])
def test_dense_matches_sparse_and_gatconv(concat, residual, heads):
    torch.manual_seed(3)
    dense = MaskedGraphAttention(4, 5, heads=heads, concat=concat, residual=residual)
    sparse = SparseMaskedGraphAttention(4, 5, heads=heads, concat=concat, residual=residual)
    sparse.load_state_dict(dense.state_dict())
    x, m = torch.randn(3, 7, 4), _mask(7, seed=3, empty_row=2)
    od, wd = dense(x, m, return_attention_weights=True)
    os_, ws = sparse(x, m, return_attention_weights=True)
    assert torch.allclose(od, os_, atol=1e-5) and torch.allclose(wd, ws, atol=1e-5)
    # a different mask for each sample
    mb = torch.rand(3, 7, 7, generator=torch.Generator().manual_seed(4)) < 0.5
    assert torch.allclose(dense(x, mb), sparse(x, mb), atol=1e-5)
    # plain GATConv without added self-loops over the same edges
    gat = GATConv(4, 5, heads=heads, concat=concat, residual=residual, add_self_loops=False)
    gat.load_state_dict(dense.state_dict())
    ei = mask_to_edge_index(m, batch_size=3)
    assert torch.allclose(gat(x.reshape(21, 4), ei).view(3, 7, -1), od, atol=1e-5)
    assert torch.allclose(sparse(x.reshape(21, 4), ei).view(3, 7, -1), od, atol=1e-5)


def test_unbatched_input_and_backward():
    layer = MaskedGraphAttention(2, 3, heads=2, concat=False)
    x = torch.randn(4, 2)
    out = layer(x, torch.ones(4, 4, dtype=torch.bool))
    assert out.shape == (4, 3)
    out.pow(2).sum().backward()
    assert layer.att_src.grad is not None and layer.lin.weight.grad is not None


def test_mask_to_edge_index_direction():
    m = torch.tensor([[False, True], [False, False]])  # node 0 receives from node 1
    assert mask_to_edge_index(m).tolist() == [[1], [0]]
    assert mask_to_edge_index(m, batch_size=2).tolist() == [[1, 3], [0, 2]]


def test_reset_parameters():
    for layer in (MaskedGraphAttention(3, 4, heads=2), SparseMaskedGraphAttention(3, 4, heads=2)):
        with torch.no_grad():
            layer.bias.fill_(1.0)
            layer.att_src.zero_()
        layer.reset_parameters()
        assert (layer.bias == 0).all() and layer.att_src.abs().sum() > 0


def test_bad_input():
    layer = MaskedGraphAttention(3, 4)
    with pytest.raises(GraphclsError, match="in_channels"):
        layer(torch.randn(2, 5, 4), torch.ones(5, 5, dtype=torch.bool))
    with pytest.raises(GraphclsError, match="mask"):
        layer(torch.randn(2, 5, 3), torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(GraphclsError, match="mask_mode"):
        MaskedGraphAttention(3, 4, mask_mode="add")
    with pytest.raises(GraphclsError, match="edge_index"):
        SparseMaskedGraphAttention(3, 4)(torch.randn(5, 3), torch.ones(5, 5))
