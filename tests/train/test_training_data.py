"""train.data.training_data: what graphcls train trains on (cached, lazy or image form; sizes, split, augment)."""
import numpy as np
import pytest
import torch

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.train import split_indices
from pyg_graphcls.train.data import augment_feature_names, training_data

SP = {"n_segments": 75, "features": ["mean", "std", "centroid", "area", "bbox"], "edges": "knn", "k": 8,
      "edge_attr": ["distance", "cartesian"]}


def test_lazy_grid_and_image_forms_on_the_sample():
    from pyg_graphcls.datasets import load_images
    tri, trl, tei, tel, _, _ = load_images("sample")
    grid = training_data("sample", "grid", {"connectivity": 8, "position": True}, lazy=True, train_size=20,
                         test_size=5, split_seed=0)
    assert (len(grid.train), len(grid.val), len(grid.test), grid.num_classes) == (18, 2, 5, 10)
    g = grid.train[0]
    tr_idx, va_idx = split_indices(20, 0.1, 0)
    assert g.num_nodes == 784 and g.x.size(1) == grid.num_features == 3 and g.pos.shape == (784, 2)
    assert np.allclose(g.x[:, 0].numpy().reshape(28, 28), tri[int(tr_idx[0])] / 255.0, atol=1e-6)
    assert int(grid.val[1].y) == int(trl[int(va_idx[1])])
    img = training_data("sample", "image", train_size=20, test_size=5, split_seed=0)
    x, y = img.train[3]
    assert x.shape == (1, 28, 28) and img.num_features == 1 and len(img.val) == 2
    assert torch.allclose(x[0], torch.from_numpy(tri[int(tr_idx[3])] / 255.0).float()) and int(y) == trl[int(tr_idx[3])]
    small = training_data("sample", "image", train_size=20, test_size=5, image_size=9)
    assert small.train[0][0].shape == (1, 9, 9) and small.test[0][0].shape == (1, 9, 9)
    with pytest.raises(GraphclsError, match="test_size"):
        training_data("sample", "image", train_size=20, test_size=10 ** 7)
    with pytest.raises(GraphclsError, match="image_size"):
        training_data("sample", "grid", train_size=20, image_size=9, lazy=True)
    with pytest.raises(GraphclsError, match="lazy"):
        training_data("sample", "image", train_size=20, lazy=True)
    with pytest.raises(GraphclsError, match="flip only"):
        training_data("sample", "image", train_size=20, augment={"rotate": 10})


def test_image_flip_is_for_the_training_part_only():
    img = training_data("sample", "image", train_size=20, test_size=5, augment={"flip": 1.0})
    assert img.train.flip == 1.0 and img.val.flip == 0.0 and img.test.flip == 0.0


def test_cached_superpixels_with_augment(tiny_idx, tmp_path):
    d = training_data(f"idx:{tiny_idx}", "superpixels", SP, root=tmp_path / "cache", workers=1, train_size=20,
                      test_size=4, augment={"flip": 0.5, "rotate": 10.0})
    assert (len(d.train), len(d.val), len(d.test), d.num_features, d.num_classes) == (18, 2, 4, 9, 10)
    assert d.train.transform is not None and d.val.transform is None and d.test.transform is None
    assert d.train.transform.features == augment_feature_names("superpixels", SP, 9)
    g = d.train[0]
    assert g.x.size(1) == 9 and g.edge_attr.size(1) == 3 and g.edge_attr.size(0) == g.edge_index.size(1)
    with pytest.raises(GraphclsError, match="augment"):
        training_data(f"idx:{tiny_idx}", "patches", {}, root=tmp_path / "cache", workers=1, augment={"flip": 1.0})


def test_augment_feature_names():
    assert augment_feature_names("superpixels", SP, 9)[:3] == ["mean_0", "std_0", "centroid_x"]
    assert augment_feature_names("superpixels", SP, 13)[:3] == ["mean_0", "mean_1", "mean_2"]  # RGB
    assert augment_feature_names("grid", {"position": True}, 3) == ["mean_0", "centroid_x", "centroid_y"]
    assert augment_feature_names("grid", {}, 3) == ["mean_0", "mean_1", "mean_2"]
    assert augment_feature_names("superpixels", SP, 4) is None
