"""Explanation pictures: importance painted region by region, checked by hand."""
import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.viz import draw_explanation, importance_map


def two_regions() -> Data:
    seg = torch.zeros(1, 4, 6, dtype=torch.long)
    seg[0, :, 3:] = 1
    return Data(x=torch.rand(2, 1), pos=torch.tensor([[1.0, 1.5], [4.0, 1.5]]),
                edge_index=torch.tensor([[0, 1], [1, 0]]), seg=seg, img=torch.rand(1, 1, 4, 6))


def test_map_follows_regions():
    m = importance_map(two_regions(), torch.tensor([0.25, 2.0]))
    expect = np.zeros((4, 6))
    expect[:, :3], expect[:, 3:] = 0.25, 2.0
    assert np.array_equal(m, expect)


def test_map_without_seg_is_nearest_node():
    d = two_regions()
    del d.seg
    m = importance_map(d, [1.0, 3.0], shape=(4, 6))
    # column 2 is 1 from node 0 (x=1) and 2 from node 1 (x=4); column 3 the other way round
    assert m[:, :3].tolist() == [[1.0] * 3] * 4 and m[:, 3:].tolist() == [[3.0] * 3] * 4


def test_draw_writes_png(tmp_path):
    fig = draw_explanation(two_regions(), [0.1, 0.9], edge_importance=[1.0, 0.5], title="t", path=tmp_path / "e.png")
    assert (tmp_path / "e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes) >= 2


def test_errors():
    with pytest.raises(GraphclsError, match="NaN"):
        draw_explanation(two_regions(), [float("nan"), 1.0])
    with pytest.raises(GraphclsError, match="node ids"):
        importance_map(two_regions(), [1.0])
