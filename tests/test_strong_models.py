"""The issue-6 models (dirconv, dirconv-grid, gatedgcn, cnn), grid pooling, graph augmentation, RW-PE."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch, Data

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import pixel_grid_graph, superpixel_graph
from pyg_graphcls.graphs.augment import GraphAugment, drop_nodes, flip_pos, rotate_pos
from pyg_graphcls.graphs.edges import edge_features
from pyg_graphcls.graphs.pe import AddRandomWalkPE, random_walk_pe
from pyg_graphcls.models import create_model, model_config, model_from_config
from pyg_graphcls.models.strong import DirectionalConv, direction_basis, full_grid_layout, grid_pool, ring_basis

BUDGET = 100_000
# the graphs of the accuracy table's recipes (references/configs/)
SUPERPIXEL_GRAPH = {"n_segments": 75, "features": ["mean", "std", "centroid", "area", "bbox"], "edges": "knn",
                    "k": 8, "edge_attr": ["distance", "cartesian"]}
SUPERPIXEL_FEATURE_NAMES = ["mean_0", "std_0", "centroid_x", "centroid_y", "area",
                            "bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1"]
OCC_GRAPH = {**SUPERPIXEL_GRAPH, "features": SUPERPIXEL_GRAPH["features"] + ["moments", "gradient", "occupancy"]}
WARD_GRAPH = {**OCC_GRAPH, "merge": "ward"}
REGIONS_MODEL = {"paint": "regions", "grid": 28, "pool_after": [0, 1], "bbox_index": 5, "occupancy_index": 14}
WARD_MEAN_MODEL = {**REGIONS_MODEL, "graph_widths": [], "paint_columns": [0], "cnn_widths": [32, 48, 64, 64]}
GRID_GRAPH = {"connectivity": 8, "position": True}


@pytest.fixture(scope="module")
def real_images():
    from pyg_graphcls.datasets import load_idx_dir, sample_dir
    tri, trl, _, _ = load_idx_dir(sample_dir())
    idx = np.concatenate([np.flatnonzero(trl == k)[:4] for k in range(10)])[:32]
    return tri[idx], trl[idx]


@pytest.fixture(scope="module")
def sp_graphs(real_images):
    x, y = real_images
    return [superpixel_graph(img, y=int(lab), **SUPERPIXEL_GRAPH) for img, lab in zip(x, y)]


@pytest.fixture(scope="module")
def grid_graphs(real_images):
    x, y = real_images
    return [pixel_grid_graph(img, y=int(lab), **GRID_GRAPH) for img, lab in zip(x[:8], y[:8])]


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


def test_pe_steps_and_rwpe_column_check(sp_graphs):
    b = Batch.from_data_list(sp_graphs[:3])
    for name in ("dirconv", "gatedgcn"):
        m = create_model(name, in_channels=b.x.size(1), num_classes=10, pe_steps=4)
        assert m(b).shape == (3, 10)  # PE computed on the fly
        b2 = b.clone()
        b2.rwpe = torch.zeros(b.num_nodes, 3)
        with pytest.raises(GraphclsError, match="rwpe"):
            m(b2)


def test_graph_models_need_pos(sp_graphs):
    g = sp_graphs[0].clone()
    del g.pos
    m = create_model("dirconv", in_channels=g.x.size(1), num_classes=10)
    with pytest.raises(GraphclsError, match="pos"):
        m(Batch.from_data_list([g]))


def test_directional_conv_is_conv2d_on_grid():
    """Independent check: on an 8-neighbour grid, sum-aggregated DirectionalConv == Conv2d 3x3, zero padding."""
    torch.manual_seed(0)
    h, w, cin, cout = 5, 6, 3, 4
    g = pixel_grid_graph(np.zeros((h, w), np.uint8), connectivity=8)
    col, row = g.pos[:, 0].long(), g.pos[:, 1].long()
    img = torch.randn(1, cin, h, w)
    x = img[0, :, row, col].T  # node features read at each node's own (row, col)
    conv = torch.nn.Conv2d(cin, cout, 3, padding=1)
    layer = DirectionalConv(cin, cout, directions=8, aggr="sum")
    # direction k of a neighbour at offset (dx, dy) = pos_src - pos_dst: angle k * 45 degrees (y down)
    offsets = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (0, 0)]
    with torch.no_grad():
        wl = layer.lin.weight.view(9, cout, cin)
        for k, (dx, dy) in enumerate(offsets):
            wl[k] = conv.weight[:, :, dy + 1, dx + 1]
        layer.bias.copy_(conv.bias)
    basis = direction_basis(g.pos, g.edge_index, 8)
    assert basis[2] is None  # every grid edge sits on a kernel centre
    out = layer(x, g.edge_index, basis)
    ref = conv(img)[0, :, row, col].T
    assert torch.allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize("directions", [8, 6])
def test_directional_conv_forward_grid_equals_message_passing(directions):
    """The conv2d form of the layer (6 directions: interpolated taps) against the gather/scatter form."""
    torch.manual_seed(0)
    h, w, cin, cout = 4, 7, 3, 5
    g = pixel_grid_graph(np.zeros((h, w), np.uint8), connectivity=8)
    b = Batch.from_data_list([g, g])
    x = torch.randn(2 * h * w, cin)
    layer = DirectionalConv(cin, cout, directions=directions, aggr="sum")
    torch.nn.init.normal_(layer.bias)
    basis = direction_basis(b.pos, b.edge_index, directions)
    assert (basis[2] is None) == (directions == 8)
    ref = layer(x, b.edge_index, basis)
    assert torch.allclose(layer.forward_grid(x, (2, h, w)), ref, atol=1e-5)
    with pytest.raises(GraphclsError, match="mean"):
        DirectionalConv(cin, cout, aggr="mean").forward_grid(x, (2, h, w))


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
        "rotated positions": (rotate_pos(b.pos, 10.0), ei),
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


def test_direction_basis_interpolates_between_kernels():
    pos = torch.tensor([[0.0, 0.0], [2.0, 1.0]])  # src 1 -> dst 0: angle atan2(1, 2) = 26.57 degrees
    lo, hi, frac = direction_basis(pos, torch.tensor([[1], [0]]), 8)
    assert lo.tolist() == [0] and hi.tolist() == [1]
    assert frac.item() == pytest.approx(np.degrees(np.arctan2(1, 2)) / 45, abs=1e-5)
    with pytest.raises(GraphclsError):
        DirectionalConv(2, 2, aggr="max")


def test_directional_conv_with_rings_against_per_edge_loop():
    """radii: each edge's matrix is the bilinear (angle x distance) mix of the ring/direction kernels,
    computed here edge by edge from the polar coordinates; mean aggregation; self kernel last."""
    torch.manual_seed(0)
    K, radii = 8, (2.0, 4.0, 8.0)
    pos = torch.rand(7, 2) * 12
    ei = torch.tensor([[1, 2, 3, 4, 5, 6, 0, 2], [0, 0, 0, 1, 1, 1, 2, 3]])
    conv = DirectionalConv(3, 5, K, aggr="mean", radii=radii)
    x = torch.randn(7, 3)
    basis = direction_basis(pos, ei, K) + ring_basis(pos, ei, radii)
    out = conv(x, ei, basis)
    w = conv.lin.weight.view(len(radii) * K + 1, 5, 3)
    want = x @ w[-1].T + conv.bias
    agg, deg = torch.zeros(7, 5), torch.zeros(7)
    for s, d in ei.T.tolist():
        dx, dy = (pos[s] - pos[d]).tolist()
        t = (np.degrees(np.arctan2(dy, dx)) % 360) / (360 / K)
        a0, fa = int(np.floor(t)) % K, t - np.floor(t)
        r = float(np.clip(np.hypot(dx, dy), radii[0], radii[-1]))
        r0 = min(int(np.searchsorted(radii, r, side="right")) - 1, len(radii) - 2)
        fr = (r - radii[r0]) / (radii[r0 + 1] - radii[r0])
        mat = sum(wr * wa * w[rr * K + aa] for rr, wr in ((r0, 1 - fr), (r0 + 1, fr))
                  for aa, wa in ((a0, 1 - fa), ((a0 + 1) % K, fa)))
        agg[d] += mat @ x[s]
        deg[d] += 1
    want = want + agg / deg.clamp(min=1).unsqueeze(1)
    assert torch.allclose(out, want, atol=1e-5)
    inner, frac = ring_basis(torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 4.0], [20.0, 0.0]]),
                             torch.tensor([[1, 2, 3], [0, 0, 0]]), radii)
    assert inner.tolist() == [0, 1, 1] and torch.allclose(frac, torch.tensor([0.0, 0.25, 1.0]))  # 1 and 20 clamp
    for bad in ((2.0,), (3.0, 2.0), (-1.0, 2.0)):
        with pytest.raises(GraphclsError, match="radii"):
            DirectionalConv(2, 2, radii=bad)


def test_dirconv_rings_and_input_norm_options(sp_graphs):
    """The dirconv options of the superpixel recipes: forward/backward, within budget, rebuilt from config;
    input_norm standardises the raw columns (a feature scaled by 1000 gives the same logits in train mode)."""
    b = Batch.from_data_list(sp_graphs[:4])
    torch.manual_seed(0)
    m = create_model("dirconv", in_channels=b.x.size(1), num_classes=10, hidden=36, radii=(2.0, 6.0),
                     input_norm=True)
    assert sum(p.numel() for p in m.parameters()) <= BUDGET
    out = m(b)
    F.cross_entropy(out, b.y).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
    rebuilt = model_from_config(model_config(m))
    rebuilt.load_state_dict(m.state_dict())
    m.eval(), rebuilt.eval()
    assert torch.allclose(rebuilt(b), m(b), atol=1e-5)
    m.train()
    b2 = b.clone()
    b2.x = b.x.clone()
    b2.x[:, 2] *= 1000  # centroid_x: a spread column, so BatchNorm's eps is negligible
    assert torch.allclose(m(b2), m(b), atol=1e-3)
    with pytest.raises(GraphclsError, match="radii"):
        DirectionalConv(2, 2, radii=(1.0, 2.0)).forward_grid(torch.zeros(4, 2), (1, 2, 2))


def test_dirconv_global_attention_is_per_graph(sp_graphs):
    """attention_after: a graph's logits do not depend on what else is in the batch (padding masked),
    nor on its node order; the layer mixes nodes (changing one node's features changes the others)."""
    from pyg_graphcls.models.strong import GlobalAttention
    torch.manual_seed(0)
    f = sp_graphs[0].x.size(1)
    m = create_model("dirconv", in_channels=f, num_classes=10, hidden=16, attention_after=(0, 1), heads=4)
    assert sum(p.numel() for p in m.parameters()) <= BUDGET
    m.eval()
    small = sorted(sp_graphs[:6], key=lambda g: g.num_nodes)
    alone = m(Batch.from_data_list([small[0]]))
    mixed = m(Batch.from_data_list([small[-1], small[0], small[3]]))
    assert torch.allclose(mixed[1], alone[0], atol=1e-5)
    perm = torch.randperm(small[0].num_nodes)
    g = small[0].clone()
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel())
    g.x, g.pos, g.edge_index = g.x[perm], g.pos[perm], inv[g.edge_index]
    g.edge_attr = None
    assert torch.allclose(m(Batch.from_data_list([g])), alone, atol=1e-4)
    att = GlobalAttention(8, 2).eval()
    h, batch = torch.randn(5, 8), torch.zeros(5, dtype=torch.long)
    h2 = h.clone()
    h2[0] += 1
    assert not torch.allclose(att(h, batch, 1)[1:], att(h2, batch, 1)[1:])
    with pytest.raises(GraphclsError, match="heads"):
        GlobalAttention(10, 4)
    with pytest.raises(GraphclsError, match="attention_after"):
        create_model("dirconv", in_channels=f, num_classes=10, attention_after=(4,))


def test_rasterize_nearest_against_loop():
    """Each lattice cell takes its own graph's nearest node (cell centres ((i + 0.5) * step - 0.5) px);
    an empty graph in the batch gives zeros; gradients reach the gathered features."""
    from pyg_graphcls.models.strong import rasterize_nearest
    torch.manual_seed(0)
    pos = torch.rand(9, 2) * 8
    h = torch.randn(9, 3, requires_grad=True)
    batch = torch.tensor([0, 0, 0, 0, 2, 2, 2, 2, 2])  # graph 1 has no nodes
    out = rasterize_nearest(h, pos, batch, 3, grid=4, image_size=8.0)
    assert out.shape == (3, 3, 4, 4)
    for b in (0, 2):
        idx = (batch == b).nonzero().view(-1)
        for i in range(4):
            for j in range(4):
                centre = torch.tensor([j * 2 + 0.5, i * 2 + 0.5])  # (x, y): column j, row i
                k = idx[((pos[idx] - centre) ** 2).sum(1).argmin()]
                assert torch.equal(out[b, :, i, j], h[k].detach()), (b, i, j)
    assert torch.equal(out[1], torch.zeros(3, 4, 4))
    out.sum().backward()
    assert h.grad.abs().sum() > 0


def test_raster_model_per_graph(sp_graphs):
    b = Batch.from_data_list(sp_graphs[:3])
    torch.manual_seed(0)
    m = create_model("raster", in_channels=b.x.size(1), num_classes=10).eval()
    assert sum(p.numel() for p in m.parameters()) <= BUDGET
    alone = m(Batch.from_data_list([sp_graphs[1]]))
    assert torch.allclose(m(b)[1], alone[0], atol=1e-5)
    with pytest.raises(GraphclsError, match="image_size"):
        create_model("raster", in_channels=3, num_classes=10, image_size=0)


def _hand_segmentation():
    """6x6: an L (region 0) and a 2x2 block (1) share the top-left 3x3 box; 2 = top-right 3x3; 3 = bottom half."""
    seg = np.full((6, 6), 3, np.int64)
    seg[:3, :3] = 0
    seg[:2, 1:3] = 1
    seg[:3, 3:] = 2
    return seg


def test_rasterize_regions_paints_shapes_back():
    """From bbox + occupancy alone (segment_features) the regions are painted back pixel-exactly
    where a 3x3 box cell is one pixel (the L) or the box is full; nearest-centroid painting is not."""
    from pyg_graphcls.graphs.superpixels import segment_features
    from pyg_graphcls.models.strong import rasterize_nearest, rasterize_regions
    seg = _hand_segmentation()
    x, pos = segment_features(np.zeros((6, 6, 1)), seg, ["bbox", "occupancy"])
    x, pos = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(pos, dtype=torch.float32)
    assert x[0, 4:].tolist() == [1, 0, 0, 1, 0, 0, 1, 1, 1]  # the L's occupancy, by hand
    ids = torch.arange(4.0).unsqueeze(1)
    batch = torch.zeros(4, dtype=torch.long)
    out = rasterize_regions(ids, pos, x[:, :4] * 5, x[:, 4:], batch, 1, grid=6, image_size=6.0)
    assert out.shape == (1, 1, 6, 6)
    assert out[0, 0].long().tolist() == seg.tolist()
    voronoi = rasterize_nearest(ids, pos, batch, 1, grid=6, image_size=6.0)
    assert voronoi[0, 0].long().tolist() != seg.tolist()


def test_rasterize_regions_fallbacks_and_errors():
    """A cell inside no box takes the nearest centroid; an empty graph gives zeros; gradients reach h."""
    from pyg_graphcls.models.strong import rasterize_regions
    pos = torch.tensor([[0.0, 0.0], [3.0, 3.0], [1.0, 1.0]])
    bbox = torch.tensor([[0.0, 0.0, 0.0, 0.0], [3.0, 3.0, 3.0, 3.0], [1.0, 1.0, 1.0, 1.0]])  # 1-pixel boxes
    occ = torch.ones(3, 9)
    h = torch.tensor([[1.0], [2.0], [3.0]], requires_grad=True)
    batch = torch.tensor([0, 0, 2])  # graph 1 empty
    out = rasterize_regions(h, pos, bbox, occ, batch, 3, grid=4, image_size=4.0)
    # cell (0, 0) is node 0's own box, (3, 3) node 1's; cells not in a box go to the nearer of the centroids (0, 0) and (3, 3); the anti-diagonal ties -> argmax
    d0 = torch.tensor([[((i) ** 2 + (j) ** 2) for j in range(4)] for i in range(4)], dtype=torch.float32)
    d1 = torch.tensor([[((i - 3) ** 2 + (j - 3) ** 2) for j in range(4)] for i in range(4)], dtype=torch.float32)
    expect = torch.where(d0 <= d1, 1.0, 2.0)
    expect[(d0 == d1)] = out[0, 0][(d0 == d1)]  # a tie may go either way
    assert torch.equal(out[0, 0], expect)
    assert torch.equal(out[1], torch.zeros(1, 4, 4))
    assert torch.equal(out[2], torch.full((1, 4, 4), 3.0))  # one node: everything is its
    out.sum().backward()
    assert h.grad[0] > 0 and h.grad[2] == 16
    with pytest.raises(GraphclsError, match="occupancy"):
        rasterize_regions(h, pos, bbox, torch.ones(3, 8), batch, 3, grid=4, image_size=4.0)


def test_raster_regions_model(real_images):
    """paint='regions' on the recipe's 23-column graphs: budget, per-graph logits, column checks."""
    r = {"graph_kwargs": OCC_GRAPH, "model_kwargs": REGIONS_MODEL}
    x, y = real_images
    graphs = [superpixel_graph(img, y=int(lab), **r["graph_kwargs"]) for img, lab in zip(x[:3], y[:3])]
    b = Batch.from_data_list(graphs)
    torch.manual_seed(0)
    m = create_model("raster", in_channels=b.x.size(1), num_classes=10, **r["model_kwargs"]).eval()
    assert b.x.size(1) == 23 and sum(p.numel() for p in m.parameters()) <= BUDGET
    assert torch.allclose(m(b)[1], m(Batch.from_data_list([graphs[1]]))[0], atol=1e-5)
    # forward/backward and a tiny run that learns, small widths
    graphs = [superpixel_graph(img, y=int(lab), **r["graph_kwargs"]) for img, lab in zip(x[:32], y[:32])]
    b = Batch.from_data_list(graphs)
    kw = {**r["model_kwargs"], "graph_widths": (16,), "cnn_widths": (16, 16)}
    m = create_model("raster", in_channels=23, num_classes=10, **kw)
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = F.cross_entropy(m(b), b.y)
        loss.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    with pytest.raises(GraphclsError, match="occupancy_index"):
        create_model("raster", in_channels=23, num_classes=10, paint="regions", bbox_index=5)
    with pytest.raises(GraphclsError, match="need 23 input columns"):
        create_model("raster", in_channels=14, num_classes=10, paint="regions", bbox_index=5, occupancy_index=14)
    with pytest.raises(GraphclsError, match="paint"):
        create_model("raster", in_channels=14, num_classes=10, paint="exact")


def test_grid_pool_is_2x2_max_pool():
    torch.manual_seed(0)
    h = w = 6
    graphs = []
    for _ in range(2):
        g = pixel_grid_graph(np.zeros((h, w), np.uint8), connectivity=8)
        graphs.append(Data(x=torch.randn(h * w, 3), pos=g.pos, edge_index=g.edge_index))
    b = Batch.from_data_list(graphs)
    xp, pp, ei, bp, cluster = grid_pool(b.x, b.pos, b.edge_index, b.batch, 2.0, 2)
    assert xp.shape == (2 * 9, 3) and pp.shape == (18, 2) and cluster.shape == (72,)
    assert bp.tolist() == [0] * 9 + [1] * 9
    small = pixel_grid_graph(np.zeros((3, 3), np.uint8), connectivity=8)
    assert ei.size(1) == 2 * small.edge_index.size(1)
    assert not bool((ei[0] == ei[1]).any()) and bool((bp[ei[0]] == bp[ei[1]]).all())
    for gi, g in enumerate(graphs):  # features: 2x2 max pooling of the image; positions: cell centres
        img = torch.zeros(3, h, w)
        img[:, g.pos[:, 1].long(), g.pos[:, 0].long()] = g.x.T
        ref = F.max_pool2d(img.unsqueeze(0), 2)[0]
        sel = bp == gi
        px, py = ((pp[sel] - 0.5) / 2).round().long().unbind(1)
        assert torch.allclose(xp[sel], ref[:, py, px].T)
    with pytest.raises(GraphclsError):
        grid_pool(b.x, b.pos, b.edge_index, b.batch, 0.0)


# ------------------------------------------------------------------ augmentation
def test_flip_and_rotate_pos():
    pos = torch.tensor([[0.0, 5.0], [27.0, 0.0], [13.5, 13.5]])
    assert torch.equal(flip_pos(pos, 28), torch.tensor([[27.0, 5.0], [0.0, 0.0], [13.5, 13.5]]))
    r = rotate_pos(pos, 90, 28)
    assert torch.allclose(r[2], pos[2])  # the centre stays
    assert torch.allclose(rotate_pos(r, -90, 28), pos, atol=1e-5)
    assert torch.allclose((r - 13.5).norm(dim=1), (pos - 13.5).norm(dim=1), atol=1e-5)


def test_graph_augment_flip_keeps_graph_consistent(sp_graphs):
    g = sp_graphs[0]
    aug = GraphAugment(flip=1.0, features=SUPERPIXEL_FEATURE_NAMES, edge_attr=SUPERPIXEL_GRAPH["edge_attr"])
    out = aug(g)
    assert out.x.shape == g.x.shape and out.edge_index.shape == g.edge_index.shape
    assert out.edge_attr.shape == g.edge_attr.shape and out.y == g.y
    assert torch.allclose(out.pos[:, 0], 27 - g.pos[:, 0]) and torch.equal(out.pos[:, 1], g.pos[:, 1])
    col = {n: i for i, n in enumerate(SUPERPIXEL_FEATURE_NAMES)}
    assert torch.allclose(out.x[:, col["centroid_x"]], 1 - g.x[:, col["centroid_x"]], atol=1e-5)
    assert torch.allclose(out.x[:, col["bbox_x0"]], 1 - g.x[:, col["bbox_x1"]], atol=1e-5)
    assert torch.allclose(out.x[:, col["bbox_y1"]], g.x[:, col["bbox_y1"]], atol=1e-5)
    for name in ("mean_0", "std_0", "area"):
        assert torch.equal(out.x[:, col[name]], g.x[:, col[name]])
    ref = edge_features(out.pos, g.edge_index, SUPERPIXEL_GRAPH["edge_attr"], scale=28.0)
    assert torch.allclose(out.edge_attr, ref)
    # distance unchanged, cartesian dx mirrored, dy unchanged
    assert torch.allclose(out.edge_attr[:, 0], g.edge_attr[:, 0], atol=1e-5)
    assert torch.allclose(out.edge_attr[:, 1:], g.edge_attr[:, 1:] * torch.tensor([-1.0, 1.0]), atol=1e-5)
    assert torch.equal(g.pos, sp_graphs[0].pos)  # input untouched


def test_graph_augment_random_ops_keep_shapes(sp_graphs):
    gen = torch.Generator().manual_seed(0)
    aug = GraphAugment(flip=0.5, rotate=10, jitter=0.3, node_drop=0.2, features=SUPERPIXEL_FEATURE_NAMES,
                       edge_attr=SUPERPIXEL_GRAPH["edge_attr"], generator=gen)
    g = sp_graphs[1]
    out = aug(g)
    n = out.num_nodes
    assert n < g.num_nodes and out.x.shape == (n, g.x.size(1)) and out.pos.shape == (n, 2)
    assert int(out.edge_index.max()) < n and out.edge_attr.size(0) == out.edge_index.size(1)
    m = create_model("dirconv", in_channels=g.x.size(1), num_classes=10)
    assert m(Batch.from_data_list([out, aug(g)])).shape == (2, 10)
    with pytest.raises(GraphclsError):
        GraphAugment(flip=2.0)
    with pytest.raises(GraphclsError, match="columns"):
        GraphAugment(flip=1.0, edge_attr=("distance",))(g)  # g has 3 edge_attr columns


def test_drop_nodes_keeps_at_least_one():
    g = Data(x=torch.rand(3, 2), pos=torch.rand(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]]))
    out = drop_nodes(g, 0.99, torch.Generator().manual_seed(1))
    assert 1 <= out.num_nodes <= 3 and out.x.size(0) == out.num_nodes


# ------------------------------------------------------------------ random-walk PE
def _dense_rwpe(edge_index, n, steps):
    a = np.zeros((n, n))
    for s, d in edge_index.T.tolist():
        a[s, d] += 1
    deg = a.sum(1, keepdims=True)
    p = np.where(deg > 0, a / np.maximum(deg, 1e-12), np.eye(n))
    return np.stack([np.diag(np.linalg.matrix_power(p, k)) for k in range(1, steps + 1)], 1)


def test_random_walk_pe_matches_dense(sp_graphs):
    g1 = sp_graphs[2]
    g2 = Data(x=torch.rand(4, 1), edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))  # node 3 isolated
    b = Batch.from_data_list([Data(x=g1.x[:, :1], edge_index=g1.edge_index), g2])
    pe = random_walk_pe(b.edge_index, b.num_nodes, 5, b.batch)
    ref = np.concatenate([_dense_rwpe(g1.edge_index, g1.num_nodes, 5), _dense_rwpe(g2.edge_index, 4, 5)])
    assert pe.shape == (b.num_nodes, 5)
    assert np.allclose(pe.numpy(), ref, atol=1e-5)
    assert torch.allclose(pe[-1], torch.ones(5))  # an isolated node stays put
    assert torch.allclose(AddRandomWalkPE(5)(g2.clone()).rwpe, pe[-4:])
    with pytest.raises(GraphclsError):
        random_walk_pe(b.edge_index, b.num_nodes, 0)


def test_cnn_refuses_graphs(sp_graphs):
    m = create_model("cnn", in_channels=1, num_classes=10)
    with pytest.raises(GraphclsError, match="images"):
        m(Batch.from_data_list(sp_graphs[:2]))
    with pytest.raises(GraphclsError, match="images"):
        m(torch.rand(2, 3, 28, 28))


def test_raster_without_graph_blocks_paints_raw_columns(real_images):
    """raster-ward-mean: no message passing, the CNN reads the graph's mean column painted by
    region shape: nearly everywhere the mean of the pixel's own region."""
    r = {"graph_kwargs": WARD_GRAPH, "model_kwargs": WARD_MEAN_MODEL}
    x, y = real_images
    graphs = [superpixel_graph(img, y=int(lab), return_seg=True, **r["graph_kwargs"])
              for img, lab in zip(x[:4], y[:4])]
    b = Batch.from_data_list(graphs)
    m = create_model("raster", in_channels=b.x.size(1), num_classes=10, **r["model_kwargs"]).eval()
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in create_model("cnn").parameters())
    seen = {}
    m.cnn.register_forward_hook(lambda mod, inp, out: seen.setdefault("lattice", inp[0]))
    m(b)
    lattice = seen["lattice"]
    assert lattice.shape == (4, 1, 28, 28)
    # independent of the painting code: each pixel's own region mean, from the segmentation and the image
    own = np.stack([(np.bincount(g.seg[0].numpy().ravel(), weights=img.ravel().astype(np.float64))
                     / np.bincount(g.seg[0].numpy().ravel()))[g.seg[0].numpy()] for g, img in zip(graphs, x[:4])])
    close = np.abs(lattice[:, 0].detach().numpy().astype(np.float64) * 255 - own) <= 1e-3 * 255
    assert close.mean() > 0.95
    # the lattice is a picture of the digit: close to the image itself (mean-colour painting)
    assert np.abs(lattice[:, 0].detach().numpy() * 255 - x[:4]).mean() < 20
    with pytest.raises(GraphclsError, match="graph_widths"):
        create_model("raster", in_channels=23, num_classes=10, graph_widths=(), graph_columns=[0])
    with pytest.raises(GraphclsError, match="graph_columns"):
        create_model("raster", in_channels=23, num_classes=10, graph_columns=[])
    with pytest.raises(GraphclsError, match="paint_columns"):
        create_model("raster", in_channels=23, num_classes=10, graph_widths=(), paint_columns=[23])
    near = create_model("raster", in_channels=b.x.size(1), num_classes=10, graph_widths=(), paint_columns=[0, 1])
    assert near(b).shape == (4, 10)


def test_raster_graph_blocks_beside_raw_columns(real_images):
    """paint_columns with graph blocks: the lattice is the raw columns' painting followed by the
    blocks' output; graph_columns: the blocks read those columns only."""
    r = {"graph_kwargs": WARD_GRAPH, "model_kwargs": WARD_MEAN_MODEL}
    x, y = real_images
    b = Batch.from_data_list([superpixel_graph(img, y=int(lab), **r["graph_kwargs"])
                              for img, lab in zip(x[:3], y[:3])])
    mk = {**r["model_kwargs"], "graph_widths": [8, 8], "graph_columns": [0, 1]}
    torch.manual_seed(0)
    m = create_model("raster", in_channels=b.x.size(1), num_classes=10, **mk).eval()
    plain = create_model("raster", in_channels=b.x.size(1), num_classes=10, **r["model_kwargs"]).eval()
    seen = {}
    m.cnn.register_forward_hook(lambda mod, inp, out: seen.__setitem__("m", inp[0]))
    plain.cnn.register_forward_hook(lambda mod, inp, out: seen.__setitem__("plain", inp[0]))
    out = m(b)
    plain(b)
    assert out.shape == (3, 10) and seen["m"].shape == (3, 9, 28, 28)
    assert torch.equal(seen["m"][:, :1], seen["plain"])     # channel 0: the mean picture, untouched
    assert seen["m"][:, 1:].abs().sum() > 0
    # a column outside graph_columns, paint_columns, bbox and occupancy changes nothing ...
    b2 = b.clone()
    b2.x = b.x.clone()
    b2.x[:, 4] += 5.0                                        # area
    assert torch.allclose(m(b2), out)
    # ... while one the blocks read does
    b2.x[:, 1] += 0.5                                        # std
    assert not torch.allclose(m(b2), out)
    out.sum().backward()
    assert m.embed[0].weight.grad is not None and m.embed[0].weight.shape == (8, 2)


def test_region_columns_scale_and_errors():
    from pyg_graphcls.models.strong import region_columns
    x = torch.rand(5, 23)
    bbox, occ = region_columns(x, 5, 14, 3, 28.0)
    assert torch.allclose(bbox, x[:, 5:9] * 27) and torch.equal(occ, x[:, 14:23])
    with pytest.raises(GraphclsError, match="occupancy"):
        region_columns(x[:, :20], 5, 14, 3, 28.0)
