"""Mixed precision on CPU: bfloat16 training steps, float32 sparse products and evaluation."""
import pytest
import torch
from torch_geometric.data import Batch

from pyg_graphcls.graphs import superpixel_graph
from pyg_graphcls.models import create_model
from pyg_graphcls.nn.directional_conv import DirectionalConv, neighbour_basis
from pyg_graphcls.nn.neighbours import SlotOperator
from pyg_graphcls.train import Trainer
from pyg_graphcls.train.fast import PackedGraphs
from pyg_graphcls.train.trainer import cpu_has_bf16


@pytest.fixture
def graphs(digits):
    imgs, labels = digits
    return [superpixel_graph(im, y=int(lab), n_segments=40, features=["mean", "centroid"], edges="knn", k=6)
            for im, lab in zip(imgs, labels)]


def test_auto_follows_the_cpu():
    model = create_model("mlp", in_channels=3, num_classes=10)
    assert Trainer(model, device="cpu", progress=False).amp is cpu_has_bf16()
    assert Trainer(model, device="cpu", amp=False, progress=False).amp is False
    on = Trainer(model, device="cpu", amp=True, progress=False)
    assert on.amp and on.amp_dtype == torch.bfloat16


def test_slot_product_is_float32_under_autocast():
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, 30, (10, 4), generator=g)
    w = torch.rand(10, 4, generator=g)
    op = SlotOperator(idx, w, 30)
    y = torch.randn(30, 5, generator=g).bfloat16().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = op(y)
    dense = torch.zeros(10, 30).index_put_((torch.arange(10).repeat_interleave(4), idx.reshape(-1)),
                                           w.reshape(-1), accumulate=True)
    assert out.dtype == torch.bfloat16
    # float32 sums rounded once to bfloat16 (summation orders differ: at most one bfloat16 step apart)
    assert torch.allclose(out.float(), dense @ y.detach().float(), rtol=8e-3, atol=1e-6)
    out.float().sum().backward()  # the transposed product under the same autocast
    assert torch.allclose(y.grad.float(), dense.sum(0, keepdim=True).t().expand(30, 5), atol=1e-2)


def test_directional_layer_under_autocast_is_close_to_float32():
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    conv = DirectionalConv(16, 16, 8, "mean")
    pos = torch.rand(60, 2, generator=g) * 28
    nbr = torch.randint(0, 60, (60, 6), generator=g)
    op = conv.slot_operator(nbr, neighbour_basis(pos, nbr, 8))
    x = torch.randn(60, 16, generator=g)
    ref = conv.forward_neighbours(x, op)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = conv.forward_neighbours(x, op)
    rel = (low.float() - ref).norm() / ref.norm()
    assert 0 < rel < 2e-2  # bfloat16 has 8 significant bits: close, not equal


@pytest.mark.parametrize("dense", [True, False])
def test_bf16_training_learns_and_evaluates_in_float32(graphs, dense):
    torch.manual_seed(0)
    model = create_model("dirconv", in_channels=3, num_classes=10, hidden=16, num_layers=2)
    t = Trainer(model, epochs=6, batch_size=8, lr=5e-3, progress=False, eval_train_size=0, dense=dense, amp=True)
    hist = t.fit(graphs[:32])
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    logits, _ = t._predict(graphs[32:])
    model.eval()
    with torch.no_grad():
        ref = model(Batch.from_data_list(graphs[32:]) if not dense else PackedGraphs(graphs[32:]).batch(
            torch.arange(len(graphs) - 32)))
    assert logits.dtype == torch.float32
    assert torch.allclose(logits, ref, atol=1e-5)  # evaluation ran in float32, not bfloat16
