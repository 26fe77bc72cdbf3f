"""datasets.lazy: graphs built on access, image tensors, area-averaged shrinking."""
import numpy as np
import pytest
import torch

from pyg_graphcls.datasets import ImageTensorDataset, LazyGraphDataset, shrink_images
from pyg_graphcls.errors import GraphclsError


def test_shrunk_images_are_block_means():
    img = np.arange(16, dtype=np.uint8).reshape(1, 4, 4) * 10  # 2x2 blocks: means 25, 45, 105, 125
    assert shrink_images(img, 2).tolist() == [[[25, 45], [105, 125]]]
    rgb = np.stack([img, img // 2], -1)
    assert shrink_images(rgb, 2).shape == (1, 2, 2, 2) and shrink_images(rgb, 2)[0, 1, 1].tolist() == [125, 62]
    # 28 -> 9: cell (i, j) averages rows/cols floor(28 i / 9) .. ceil(28 (i + 1) / 9) - 1
    rng = np.random.default_rng(0)
    img0 = rng.integers(0, 256, (28, 28)).astype(np.uint8)
    lo = [28 * i // 9 for i in range(9)]
    hi = [-(-28 * (i + 1) // 9) for i in range(9)]
    ref = np.array([[img0[lo[i]:hi[i], lo[j]:hi[j]].astype(np.float64).mean() for j in range(9)] for i in range(9)])
    assert np.abs(shrink_images(img0[None], 9)[0].astype(np.float64) - ref).max() <= 0.5 + 1e-9
    with pytest.raises(GraphclsError, match="size"):
        shrink_images(img, 0)
    with pytest.raises(GraphclsError, match="shape"):
        shrink_images(img[0], 2)


def test_image_tensor_dataset_scales_and_flips():
    imgs = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10
    ds = ImageTensorDataset(imgs, np.array([3, 7]))
    x, y = ds[1]
    assert x.shape == (1, 3, 4) and int(y) == 7 and ds.num_channels == 1
    assert torch.allclose(x[0], torch.from_numpy(imgs[1] / 255.0).float())
    flipped = ImageTensorDataset(imgs, np.array([3, 7]), flip=1.0)[1][0]
    assert torch.equal(flipped[0], torch.from_numpy(np.ascontiguousarray(imgs[1][:, ::-1]) / 255.0).float())
    rgb = ImageTensorDataset(np.zeros((1, 5, 6, 3), np.uint8), np.array([0]))
    assert rgb[0][0].shape == (3, 5, 6) and rgb.num_channels == 3
    with pytest.raises(GraphclsError, match="uint8"):
        ImageTensorDataset(imgs.astype(np.float32), np.array([0, 1]))
    with pytest.raises(GraphclsError, match="length"):
        ImageTensorDataset(imgs, np.array([0]))


def test_lazy_graph_dataset_builds_on_access(tmp_path):
    from torch_geometric.data import Data
    calls = []

    def builder(image, y, scale=1.0):
        calls.append(y)
        return Data(x=torch.from_numpy(np.array(image, dtype=np.float32)).reshape(-1, 1) * scale,
                    y=torch.tensor([y]))

    imgs = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2)
    ds = LazyGraphDataset(imgs, np.array([0, 4, 2]), builder, {"scale": 2.0})
    assert calls == [] and len(ds) == 3 and ds.num_classes == 5
    g = ds[1]
    assert calls == [4] and g.x[:, 0].tolist() == [8.0, 10.0, 12.0, 14.0] and int(g.y) == 4
    assert ds.num_node_features == 1
    sub = ds[torch.tensor([2, 0])]
    assert [int(sub[i].y) for i in range(2)] == [2, 0]
    # file paths are read on access
    from PIL import Image
    path = tmp_path / "a.png"
    Image.fromarray(np.full((2, 2), 7, np.uint8)).save(path)
    assert LazyGraphDataset([str(path)], np.array([1]), builder)[0].x[:, 0].tolist() == [7.0] * 4
    with pytest.raises(GraphclsError, match="length"):
        LazyGraphDataset(imgs, np.array([0]), builder)
