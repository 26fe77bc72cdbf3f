"""DirectionalConv against Conv2d, against a per-edge loop, and its conv2d form against message passing."""
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import pixel_grid_graph
from pyg_graphcls.nn import DirectionalConv, direction_basis, relative_positions


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


def test_direction_basis_interpolates_between_kernels():
    pos = torch.tensor([[0.0, 0.0], [2.0, 1.0]])  # src 1 -> dst 0: angle atan2(1, 2) = 26.57 degrees
    lo, hi, frac = direction_basis(pos, torch.tensor([[1], [0]]), 8)
    assert lo.tolist() == [0] and hi.tolist() == [1]
    assert frac.item() == pytest.approx(np.degrees(np.arctan2(1, 2)) / 45, abs=1e-5)
    with pytest.raises(GraphclsError):
        DirectionalConv(2, 2, aggr="max")


@pytest.mark.parametrize("aggr", ["mean", "sum"])
def test_directional_conv_against_per_edge_loop(aggr):
    """Off-grid positions: each edge's matrix is the angle-interpolated mix of two direction kernels,
    computed here edge by edge from the angle in degrees; self kernel last."""
    torch.manual_seed(0)
    K = 8
    pos = torch.rand(7, 2) * 12
    ei = torch.tensor([[1, 2, 3, 4, 5, 6, 0, 2], [0, 0, 0, 1, 1, 1, 2, 3]])
    conv = DirectionalConv(3, 5, K, aggr=aggr)
    torch.nn.init.normal_(conv.bias)
    x = torch.randn(7, 3)
    out = conv(x, ei, direction_basis(pos, ei, K))
    w = conv.lin.weight.view(K + 1, 5, 3)
    agg, deg = torch.zeros(7, 5), torch.zeros(7)
    for s, d in ei.T.tolist():
        dx, dy = (pos[s] - pos[d]).tolist()
        t = (np.degrees(np.arctan2(dy, dx)) % 360) / (360 / K)
        a0, fa = int(np.floor(t)) % K, t - np.floor(t)
        agg[d] += ((1 - fa) * w[a0] + fa * w[(a0 + 1) % K]) @ x[s]
        deg[d] += 1
    if aggr == "mean":
        agg = agg / deg.clamp(min=1).unsqueeze(1)
    assert torch.allclose(out, x @ w[K].T + conv.bias + agg, atol=1e-5)


def test_relative_positions_hand_example():
    pos = torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 0.0]])
    ei = torch.tensor([[1, 2], [0, 0]])
    out = relative_positions(pos, ei, 10.0)
    assert torch.allclose(out, torch.tensor([[0.3, 0.4, 0.5], [0.6, 0.0, 0.6]]))
    per_edge = relative_positions(pos, ei, torch.tensor([10.0, 2.0]))  # one scale per edge
    assert torch.allclose(per_edge, torch.tensor([[0.3, 0.4, 0.5], [3.0, 0.0, 3.0]]))
