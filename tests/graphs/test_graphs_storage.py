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


def test_indices_narrowed_for_files_and_widened_back_exactly():
    import numpy as np
    import torch
    from pyg_graphcls.graphs.storage import narrow_indices, widen_indices
    ei = torch.tensor([[0, 74, 3], [5, 0, 74]])
    small = narrow_indices({"edge_index": ei, "x": torch.ones(2, dtype=torch.int64)})
    assert small["edge_index"].dtype == torch.uint8 and small["x"].dtype == torch.int64  # only index fields
    assert torch.equal(widen_indices(small)["edge_index"], ei) and widen_indices(small)["edge_index"].dtype == torch.long
    mid = narrow_indices({"edge_index": np.array([[0, 256], [1, 2]])})
    assert mid["edge_index"].dtype == np.int16 and widen_indices(mid)["edge_index"].tolist() == [[0, 256], [1, 2]]
    assert narrow_indices({"edge_index": torch.tensor([[-1, 3]])})["edge_index"].dtype == torch.int16
    big = narrow_indices({"edge_index": np.array([[0, 40000], [1, 2]])})
    assert big["edge_index"].dtype == np.int32
    assert widen_indices(big)["edge_index"].tolist() == [[0, 40000], [1, 2]]
    huge = narrow_indices({"edge_index": torch.tensor([[0, 2 ** 40]])})
    assert huge["edge_index"].dtype == torch.int64


def test_cache_file_holds_narrow_indices_and_loads_int64(tmp_path, digits):
    import torch
    from pyg_graphcls.datasets import ImageGraphDataset
    ds = ImageGraphDataset(tmp_path, digits[0][:6], digits[1][:6], workers=1, progress=False)
    stored = torch.load(ds.cache_path / "chunk-000000.pt", weights_only=True)["arrays"]
    assert stored["edge_index"].dtype == torch.uint8
    again = ImageGraphDataset(tmp_path, digits[0][:6], digits[1][:6], workers=1, progress=False)
    assert not again.converted and again[0].edge_index.dtype == torch.long
    assert torch.equal(again._data.edge_index, ds._data.edge_index)


def test_collate_fields_is_pygs_collate():
    """Conversions collate single graphs without PyG: the same keys in the same order, values, dtypes and
    slices as PyG's collate of the Data objects (index fields along the last dimension, 0-d values
    stacked)."""
    from torch_geometric.data import Data
    from torch_geometric.data.collate import collate

    from pyg_graphcls.graphs.storage import collate_fields
    g = torch.Generator().manual_seed(0)
    graphs = []
    for n, e in ((3, 4), (5, 0), (1, 2)):
        graphs.append({"x": torch.rand(n, 2, generator=g), "edge_index": torch.randint(0, n, (2, e), generator=g),
                       "pos": torch.rand(n, 2, generator=g), "y": torch.tensor([n]), "image_size": torch.tensor([[4, 5]]),
                       "face": torch.zeros(3, n, dtype=torch.long), "weight": torch.tensor(float(n)),
                       "seg": torch.zeros(1, 4, 5, dtype=torch.long)})
    data, slices = collate_fields(graphs)
    pyg_list = []
    for f in graphs:
        d = Data()
        for k, v in f.items():
            d[k] = v
        pyg_list.append(d)
    ref, ref_slices, _ = collate(Data, pyg_list, increment=False, add_batch=False)
    ref = ref.to_dict()
    assert list(data) == list(ref) and list(slices) == list(ref_slices)
    for k in ref:
        assert data[k].dtype == ref[k].dtype and torch.equal(data[k], ref[k]), k
        assert slices[k].dtype == ref_slices[k].dtype and torch.equal(slices[k], ref_slices[k]), k
    with pytest.raises(GraphclsError, match="same fields"):
        collate_fields([graphs[0], {"x": graphs[1]["x"]}])
