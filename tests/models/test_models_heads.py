import inspect
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs.sample_graph import edge_loss, label2edge, sample_graph
from pyg_graphcls.graphs.labels import cooccurrence_graph, save_label_graph
from pyg_graphcls.models import ConvNet
from pyg_graphcls.models.heads import (COCO_CLASSES_PER_GROUP, MLGCN, GroupedLabelAttentionHead,
                                       LabelAttentionHead, LinearHead, SampleGraphHead,
                                       balanced_groups)
from pyg_graphcls.models.registry import create_model, model_config, model_from_config
from pyg_graphcls.nn.masked_attention import MaskedGraphAttention

F_DIM, C = 12, 6


def _feats(b=5, seed=0):
    return torch.randn(b, F_DIM, generator=torch.Generator().manual_seed(seed))


def _graph():
    rng = np.random.default_rng(0)
    return cooccurrence_graph((rng.random((30, C)) < 0.4).astype(int), threshold=0.3)


# ---------------------------------------------------------------- label2edge / loss / sample graph

def test_label2edge():
    assert label2edge(torch.tensor([0, 1, 0])).tolist() == [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    y = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert label2edge(y).tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    with pytest.raises(GraphclsError, match="class ids"):
        label2edge(torch.tensor([0.0, 1.0]))
    with pytest.raises(GraphclsError):
        label2edge(torch.zeros(2, 2, 2))


def test_edge_loss():
    s = torch.randn(4, 4, requires_grad=True)
    t = label2edge(torch.tensor([0, 1, 0, 2]))
    off = ~torch.eye(4, dtype=torch.bool)
    ref = F.binary_cross_entropy_with_logits(s[off], t[off])
    loss = edge_loss(s, t)
    assert torch.allclose(loss, ref)
    assert torch.allclose(edge_loss(s, t, ignore_diagonal=False), F.binary_cross_entropy_with_logits(s, t))
    loss.backward()
    assert (s.grad.diagonal() == 0).all()
    # 2 positive off-diagonal pairs, 10 negative -> balanced pos_weight 5
    bal = edge_loss(s, t, pos_weight="balanced")
    ref = F.binary_cross_entropy_with_logits(s[off], t[off], pos_weight=torch.tensor(5.0))
    assert torch.allclose(bal, ref)
    one = edge_loss(torch.zeros(1, 1, requires_grad=True), torch.ones(1, 1))
    assert one.item() == 0.0 and one.requires_grad
    with pytest.raises(GraphclsError, match="label2edge"):
        edge_loss(s, torch.tensor([0, 1, 0, 2]))


def test_sample_graph():
    f = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    g = sample_graph(f, k=1)
    assert g.num_nodes == 4 and g.edge_index.shape == (2, 4)
    nbr = {int(d): int(s) for s, d in g.edge_index.t()}
    assert nbr[0] == 1 and nbr[1] == 0 and nbr[2] == 1
    assert (g.edge_weight >= 0).all() and (g.edge_index[0] != g.edge_index[1]).all()
    g = sample_graph(f, threshold=0.5)
    assert sorted(map(tuple, g.edge_index.t().tolist())) == [(0, 1), (1, 0)]
    assert sample_graph(f).edge_index.shape[1] == 12
    assert sample_graph(f, k=10, self_loops=True).edge_index.shape[1] == 16
    with pytest.raises(GraphclsError, match="k"):
        sample_graph(f, k=0)


# ---------------------------------------------------------------- backbone

def test_heads_backbone_is_the_cnn():
    """The heads' backbone is the one ConvNet: blocks width, 2*width, 4*width, feat_dim outputs."""
    net = create_model("head-linear", num_classes=C, in_channels=3, feat_dim=16, width=4).backbone
    assert isinstance(net, ConvNet) and net.out_channels == 16
    assert [c.out_channels for c in net.convs] == [4, 8, 16] and net.pool_after == {0, 1, 2}
    assert net(torch.randn(2, 3, 56, 56)).shape == (2, 16)
    with pytest.raises(GraphclsError, match=r"\[B, 3, H, W\]"):
        net(torch.randn(2, 1, 56, 56))


# ---------------------------------------------------------------- heads, on features directly

def _heads():
    g = _graph()
    return [
        LinearHead(nn.Identity(), F_DIM, C),
        LabelAttentionHead(nn.Identity(), F_DIM, C, label_graph=g, heads=2, embed_dim=3),
        MLGCN(nn.Identity(), F_DIM, C, label_graph=g, embed_dim=8, hidden=10),
        GroupedLabelAttentionHead(nn.Identity(), F_DIM, C, classes_per_group=[2, 3, 1], group_dim=8,
                                  class_dim=4, hidden=16, heads=2),
        GroupedLabelAttentionHead(nn.Identity(), F_DIM, C, classes_per_group=[2, 3, 1], group_dim=8,
                                  class_dim=4, hidden=16, attention=False),
    ]


@pytest.mark.parametrize("idx", range(5))
def test_head_forward_backward(idx):
    head = _heads()[idx]
    x = _feats()
    out = head(x)
    assert out.shape == (5, C) and torch.isfinite(out).all()
    (out.sum() + out.pow(2).sum()).backward()
    assert all(p.grad is not None for p in head.parameters())
    head.reset_parameters()


def test_head_pools_feature_maps_and_checks_feat_dim():
    head = LinearHead(nn.Identity(), F_DIM, C)
    fmap = torch.randn(2, F_DIM, 3, 3)
    assert torch.allclose(head(fmap), head(fmap.amax(dim=(2, 3))))
    with pytest.raises(GraphclsError, match="feat_dim = 12"):
        head(torch.randn(2, F_DIM + 1))


def test_label_attention_starts_at_baseline_and_uses_mask():
    g = _graph()
    head = LabelAttentionHead(nn.Identity(), F_DIM, C, label_graph=g)
    x = _feats()
    assert torch.allclose(head(x), head.fc(x))
    expect = g.adj | torch.eye(C, dtype=torch.bool)
    assert torch.equal(head.mask, expect)
    assert torch.equal(LabelAttentionHead(nn.Identity(), F_DIM, C).mask, torch.ones(C, C, dtype=torch.bool))
    with pytest.raises(GraphclsError, match="num_classes"):
        LabelAttentionHead(nn.Identity(), F_DIM, C + 1, label_graph=g)


def test_mlgcn_classifiers_follow_the_graph():
    g = _graph()
    head = MLGCN(nn.Identity(), F_DIM, C, label_graph=g, embed_dim=8, hidden=10, bias=False)
    a = g.adj_norm
    w1, w2 = head.gc1.lin.weight, head.gc2.lin.weight
    ref = a @ F.leaky_relu(a @ head.embeddings @ w1.t(), 0.2) @ w2.t()
    assert torch.allclose(head.classifiers(), ref, atol=1e-5)
    x = _feats()
    assert torch.allclose(head(x), x @ ref.t(), atol=1e-5)
    fixed = MLGCN(nn.Identity(), F_DIM, C, embeddings=np.eye(C).tolist())
    assert "embeddings" not in dict(fixed.named_parameters()) and fixed.embeddings.shape == (C, C)


def test_grouped_coco_split_and_errors():
    head = GroupedLabelAttentionHead(nn.Identity(), F_DIM, 80, classes_per_group=COCO_CLASSES_PER_GROUP,
                                     group_dim=4, class_dim=4, hidden=8)
    assert head.num_groups == 12 and head(_feats(2)).shape == (2, 80)
    # class attention stays inside a group: block-diagonal mask
    assert bool(head.class_mask[1, 8]) and not bool(head.class_mask[8, 9]) and not bool(head.class_mask[0, 1])
    assert int(head.class_mask.sum()) == sum(n * n for n in COCO_CLASSES_PER_GROUP)
    with pytest.raises(GraphclsError, match="sums to 79"):
        GroupedLabelAttentionHead(nn.Identity(), F_DIM, 80, classes_per_group=COCO_CLASSES_PER_GROUP[:-1] + [6])
    with pytest.raises(GraphclsError, match="positive"):
        GroupedLabelAttentionHead(nn.Identity(), F_DIM, 2, classes_per_group=[3, -1])
    ablation = GroupedLabelAttentionHead(nn.Identity(), F_DIM, 80, classes_per_group=COCO_CLASSES_PER_GROUP,
                                         attention=False)
    assert not any(isinstance(m, MaskedGraphAttention) for m in ablation.modules())
    assert balanced_groups(10) == [4, 3, 3] and sum(balanced_groups(80)) == 80


def test_grouped_classes_interact_only_within_group():
    head = GroupedLabelAttentionHead(nn.Identity(), F_DIM, C, classes_per_group=[2, 3, 1], group_dim=8,
                                     class_dim=4, hidden=16).eval()
    x = _feats(1)
    # perturb class 0's node after the class FC: only class 0 and 1 (same group) may change
    cap = {}
    handle = head.class_fc.register_forward_hook(lambda m, i, o: o + cap.get("delta", 0))
    base = head(x)
    d = torch.zeros(1, C, 4)
    d[0, 0] = 5.0
    cap["delta"] = d
    moved = (head(x) - base).abs()[0] > 1e-7
    handle.remove()
    assert moved[0] and moved[1] and not moved[2:].any()


def test_sample_graph_head():
    head = SampleGraphHead(nn.Identity(), F_DIM, C, hidden=8, edge_dim=4)
    assert list(inspect.signature(head.forward).parameters) == ["images"]  # never sees labels
    logits, s = head(_feats())
    assert logits.shape == (5, C) and s.shape == (5, 5) and torch.allclose(s, s.t())
    y = torch.tensor([0, 1, 0, 2, 1])
    loss = F.cross_entropy(logits, y) + edge_loss(s, label2edge(y))
    loss.backward()
    assert head.edge_proj.weight.grad is not None and all(p.grad is not None for p in head.parameters())
    # GCN head mixes samples; the MLP head (gnn=False) does not
    x = _feats()
    x2 = x.clone()
    x2[1:] += 1.0
    assert not torch.allclose(head(x)[0][0], head(x2)[0][0])
    mlp = SampleGraphHead(nn.Identity(), F_DIM, C, hidden=8, edge_dim=4, gnn=False)
    assert torch.allclose(mlp(x)[0][0], mlp(x2)[0][0]) and mlp(x)[1].shape == (5, 5)
    assert SampleGraphHead.returns_edge_logits and head(_feats(1))[0].shape == (1, C)


# ---------------------------------------------------------------- registry builders

@pytest.mark.parametrize("name", ["head-linear", "head-label-attention", "head-mlgcn", "head-grouped",
                                  "head-sample-graph"])
def test_registry_builders(name):
    model = create_model(name, num_classes=C, in_channels=1, feat_dim=16, width=4)
    out = model(torch.rand(2, 1, 32, 32))
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.shape == (2, C)
    assert isinstance(out, tuple) == (name == "head-sample-graph")
    logits.sum().backward()


def test_registry_label_graph_as_path_is_json_config(tmp_path):
    path = save_label_graph(_graph(), tmp_path / "g.npz")
    model = create_model("head-label-attention", num_classes=C, feat_dim=16, width=4, label_graph=str(path))
    cfg = json.loads(json.dumps(model_config(model)))
    again = model_from_config(cfg)
    assert torch.equal(again.mask, model.mask)
    nested = create_model("head-mlgcn", num_classes=C, feat_dim=16, width=4,
                          label_graph=_graph().adj_norm.tolist())
    assert torch.allclose(nested.edge_weight.sort().values, _graph().edge_weight.sort().values)
