import pytest
import torch
from torch_geometric.data import Data


@pytest.fixture
def four_regions():
    """A maker of the hand-built superpixel graph of the viz tests: a 10x12 image cut into 4 rectangular
    regions (2x2), fully adjacent, with seeded node/edge features, its segmentation and image;
    ``extras`` adds ``edge_weight`` and ``image_size``."""
    def make(extras: bool = True) -> Data:
        seg = torch.zeros(10, 12, dtype=torch.long)
        seg[:5, 6:] = 1
        seg[5:, :6] = 2
        seg[5:, 6:] = 3
        pos = torch.tensor([[2.5, 2.0], [8.5, 2.0], [2.5, 7.0], [8.5, 7.0]])
        ei = torch.tensor([[0, 1, 0, 2, 1, 3, 2, 3, 0, 3],
                           [1, 0, 2, 0, 3, 1, 3, 2, 3, 0]])
        g = torch.Generator().manual_seed(0)
        d = Data(x=torch.rand(4, 5, generator=g), pos=pos, edge_index=ei,
                 edge_attr=torch.rand(10, 2, generator=g), seg=seg[None], y=torch.tensor([2]))
        if extras:
            d.edge_weight = torch.rand(10, generator=g)
        d.img = torch.rand(1, 3, 10, 12, generator=g)
        if extras:
            d.image_size = torch.tensor([[10, 12]])
        return d
    return make
