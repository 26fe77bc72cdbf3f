"""SlotOperator: the weighted slot product and its transpose against a dense matrix, on both kernels."""
import pytest
import torch

import pyg_graphcls.graphs._compiled as compiled
from pyg_graphcls.nn.neighbours import SlotOperator


def _case(seed=0, m=40, s=5, rows=70, c=7):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, rows, (m, s), generator=g)
    idx[0] = 3  # one row reading the same source several times
    w = torch.rand(m, s, generator=g)
    dense = torch.zeros(m, rows, dtype=torch.float64).index_put_(
        (torch.arange(m).repeat_interleave(s), idx.reshape(-1)), w.reshape(-1).double(), accumulate=True)
    return idx, w, dense, torch.randn(rows, c, generator=g, dtype=torch.float64)


@pytest.fixture(params=["compiled", "torch-csr"])
def kernel(request, monkeypatch):
    if request.param == "compiled":
        if compiled.load() is None:
            pytest.skip("no C++ compiler here: the compiled kernels are not built")
    else:
        monkeypatch.setattr(compiled, "load", lambda: None)
    return request.param


def test_weighted_product_and_gradient_equal_a_dense_matrix(kernel):
    idx, w, dense, y64 = _case()
    op = SlotOperator(idx, w, y64.size(0))
    y = y64.float().requires_grad_()
    out = op(y)
    assert torch.allclose(out.double(), dense @ y64, atol=1e-5)
    gout = torch.randn_like(out)
    out.backward(gout)
    assert torch.allclose(y.grad.double(), dense.t() @ gout.double(), atol=1e-5)


def test_gather_and_its_gradient(kernel):
    idx, _, _, y64 = _case(1)
    op = SlotOperator(idx, None, y64.size(0))
    y = y64.float().requires_grad_()
    out = op(y)
    assert out.shape == (*idx.shape, y.size(1)) and torch.equal(out, y.detach()[idx])
    out.sum().backward()
    counts = torch.bincount(idx.reshape(-1), minlength=y.size(0)).float()
    assert torch.equal(y.grad, counts.unsqueeze(1).expand_as(y))  # each source row read `count` times


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_rows_keep_their_dtype(kernel, dtype):
    idx, w, dense, y64 = _case(2)
    op = SlotOperator(idx, w, y64.size(0))
    y = y64.to(dtype)
    out = op(y)
    assert out.dtype == dtype
    ref = dense @ y.double()  # the exact sums of the low-precision inputs
    assert torch.allclose(out.double(), ref, rtol=1e-2, atol=1e-3)
