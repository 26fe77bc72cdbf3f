"""graphs.grid and graphs.patches: pixel-grid and patch graphs."""
import numpy as np
import torch

from pyg_graphcls.graphs import patch_graph, pixel_grid_graph


def test_pixel_grid_graph_degrees_and_features():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    d = pixel_grid_graph(img, connectivity=8, y=2)
    deg = torch.bincount(d.edge_index[1], minlength=12).view(3, 4)
    assert deg.tolist() == [[3, 5, 5, 3], [5, 8, 8, 5], [3, 5, 5, 3]]
    assert torch.allclose(d.x[:, 0], torch.tensor(img.ravel() / 255.0, dtype=torch.float32))
    assert d.pos[5].tolist() == [1.0, 1.0] and d.pos[7].tolist() == [3.0, 1.0]
    assert d.y.tolist() == [2]
    d4 = pixel_grid_graph(img, connectivity=4, position=True)
    assert torch.bincount(d4.edge_index[1]).max() == 4 and d4.x.shape == (12, 3)


def test_patch_graph_layout():
    img = np.random.default_rng(0).random((10, 12, 3)).astype(np.float32)
    d = patch_graph(img, patch_size=4)  # padded to 12x12 -> 3x3 patches
    assert d.num_nodes == 9 and d.x.shape == (9, 48)
    assert torch.allclose(d.x[4].view(4, 4, 3), torch.from_numpy(img[4:8, 4:8]))
    assert torch.allclose(d.x[8].view(4, 4, 3)[2:], torch.zeros(2, 4, 3))  # padding rows
    assert d.pos[4].tolist() == [5.5, 5.5]
    assert torch.bincount(d.edge_index[1]).tolist() == [3, 5, 3, 5, 8, 5, 3, 5, 3]
    vit = patch_graph(np.zeros((3, 224, 224), np.float32), patch_size=16)
    assert vit.x.shape == (196, 768)
    knn = patch_graph(img, patch_size=4, edges="knn", k=3)
    assert torch.bincount(knn.edge_index[1]).eq(3).all()
