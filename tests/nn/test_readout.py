"""Readout and MultiScaleReadout against hand-worked pooling."""
import pytest
import torch

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.nn import MultiScaleReadout, Readout


def test_readouts_hand_example():
    x = torch.tensor([[1.0], [3.0], [5.0]])
    batch = torch.tensor([0, 0, 1])
    assert Readout("max+mean")(x, batch).tolist() == [[3.0, 2.0], [5.0, 5.0]]
    assert Readout("sum")(x, batch).tolist() == [[4.0], [5.0]]
    with pytest.raises(GraphclsError, match="readout"):
        Readout("median")




def test_readout_dense_equals_sparse():
    x = torch.tensor([[[1.0, -2.0], [3.0, 0.0], [9.0, 9.0]], [[5.0, 1.0], [-1.0, 4.0], [0.0, 0.0]]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    r = Readout("max+mean+sum")
    ref = r(x[mask], torch.tensor([0, 0, 1, 1, 1]), 2)
    assert torch.allclose(r.dense(x, mask), ref)
    full = torch.ones(2, 3, dtype=torch.bool)
    assert torch.allclose(r.dense(x), r.dense(x, full))


def test_multi_scale_readout_hand_example():
    """Per stage max and mean of each graph's nodes (a stage may have its own nodes), concatenated, then the head."""
    ro = MultiScaleReadout([1, 2], num_classes=1)
    with torch.no_grad():
        ro.head.weight.copy_(torch.tensor([[1.0, 10.0, 100.0, 1000.0, 1e4, 1e5]]))
        ro.head.bias.zero_()
    s1 = (torch.tensor([[1.0], [3.0], [5.0]]), torch.tensor([0, 0, 1]))
    s2 = (torch.tensor([[2.0, 0.0], [4.0, 8.0]]), torch.tensor([0, 1]))  # after pooling: one node per graph
    # graph 0: stage 1 max 3 mean 2; stage 2 max (2, 0) mean (2, 0) -> [3, 2, 2, 0, 2, 0]
    # graph 1: [5, 5, 4, 8, 4, 8]
    g0 = torch.tensor([3.0, 2.0, 2.0, 0.0, 2.0, 0.0])
    g1 = torch.tensor([5.0, 5.0, 4.0, 8.0, 4.0, 8.0])
    want = torch.stack([g0, g1]) @ ro.head.weight.detach().T
    assert torch.allclose(ro([s1, s2], 2), want)
    dense = [torch.tensor([[[1.0], [3.0]], [[5.0], [7.0]]]), torch.tensor([[[2.0, 0.0]], [[4.0, 8.0]]])]
    ref = ro([(dense[0].reshape(4, 1), torch.tensor([0, 0, 1, 1])),
              (dense[1].reshape(2, 2), torch.tensor([0, 1]))], 2)
    assert torch.allclose(ro.forward_dense(dense), ref)
