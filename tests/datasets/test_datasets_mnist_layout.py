"""datasets.mnist_superpixels: PyG's MNISTSuperpixels graphs in the layout of ours."""
import torch
from torch_geometric.data import Data

from pyg_graphcls.datasets.mnist_superpixels import MNIST_IMAGE_SIZE, MatchSuperpixelLayout
from pyg_graphcls.graphs.augment import GraphAugment


def test_match_layout_sets_image_size_and_columns():
    pos = torch.tensor([[0.0, 0.0], [27.0, 13.5], [3.0, 4.0]])
    g = Data(x=torch.tensor([[0.5], [1.0], [0.0]]), pos=pos, edge_index=torch.tensor([[0, 2], [2, 0]]),
             y=torch.tensor([[7]]))
    out = MatchSuperpixelLayout()(g.clone())
    assert MNIST_IMAGE_SIZE == (28, 28) and out.image_size.tolist() == [[28, 28]]
    assert torch.allclose(out.x, torch.tensor([[0.5, 0.0, 0.0], [1.0, 1.0, 0.5], [0.0, 3 / 27, 4 / 27]]))
    assert torch.allclose(out.edge_attr[:, 0], torch.full((2,), 5.0 / 28))
    assert out.y.tolist() == [7]
    flipped = GraphAugment(flip=1.0)(out)  # the size comes from the data
    assert torch.equal(flipped.pos[:, 0], torch.tensor([27.0, 0.0, 24.0]))
    wide = MatchSuperpixelLayout(image_size=(10, 40))(g.clone())
    assert wide.image_size.tolist() == [[10, 40]] and torch.allclose(wide.x[1, 1:], torch.tensor([27 / 39, 13.5 / 9]))
    assert MatchSuperpixelLayout(image_size=32).image_size == (32, 32)  # one number: a square
