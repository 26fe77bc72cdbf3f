"""grid_pool on a pixel grid against 2x2 max pooling."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch, Data

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import pixel_grid_graph
from pyg_graphcls.nn import grid_pool


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
