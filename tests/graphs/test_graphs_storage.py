"""graphs.storage: InMemoryDataset-layout blocks merged and split."""
import numpy as np
import pytest
import torch

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs.storage import merge_storage


def test_merge_storage_numpy_blocks_and_errors():
    a = ({"x": np.arange(6, dtype=np.float32).reshape(2, 3), "edge_index": np.array([[0], [1]])},
         {"x": np.array([0, 2]), "edge_index": np.array([0, 1])})
    data, slices = merge_storage([a, a])       # numpy blocks, as worker processes return them
    assert torch.equal(data["x"], torch.cat([torch.from_numpy(a[0]["x"])] * 2))
    assert data["edge_index"].shape == (2, 2) and torch.equal(data["edge_index"][:, 1], torch.tensor([0, 1]))
    assert slices["x"].tolist() == [0, 2, 4] and slices["edge_index"].tolist() == [0, 1, 2]
    wide = ({"x": np.zeros((1, 4), np.float32), "edge_index": np.zeros((2, 0), np.int64)},
            {"x": np.array([0, 1]), "edge_index": np.array([0, 0])})
    with pytest.raises(GraphclsError, match="shape differs"):
        merge_storage([a, wide])
    with pytest.raises(GraphclsError, match="same fields"):
        merge_storage([a, ({"x": a[0]["x"]}, {"x": a[1]["x"]})])
