"""graphs.augment: flips and turns carried to pos, x and edge_attr."""
import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from pyg_graphcls.graphs.augment import GraphAugment
from pyg_graphcls.graphs.features import feature_names
from pyg_graphcls.graphs.image import as_image
from pyg_graphcls.graphs.superpixels import graph_from_segments, slic_segments


def test_augment_occupancy_between_right_angles():
    """The 8 outer occupancy cells lie 45 degrees apart: a 45-degree turn moves each one place on (clockwise
    on screen), 22.5 degrees half-way; the centre cell and other columns stay; a flip swaps left and right."""
    names = ["mean_0"] + [f"occ_{r}{c}" for r in range(3) for c in range(3)]
    grid = torch.arange(9, dtype=torch.float32).view(3, 3)  # occ_rc = 3 r + c
    flat = grid.flatten()
    x = torch.cat([torch.tensor([0.7]), flat])[None]
    g = Data(x=x.clone(), pos=torch.tensor([[13.5, 13.5]]), edge_index=torch.zeros(2, 0, dtype=torch.long),
             image_size=torch.tensor([[28, 28]]))
    flip = GraphAugment(flip=1.0, features=names, edge_attr=())
    assert torch.equal(flip(g).x[0, 1:].view(3, 3), grid.flip(1))
    turn = GraphAugment(flip=0.0, rotate=90.0, features=names, edge_attr=())
    ring = [0, 1, 2, 5, 8, 7, 6, 3]  # clockwise from the top left
    turn._rand = lambda: 0.75  # angle +45: one place
    out = turn(g).x[0]
    assert all(out[1 + cell] == flat[ring[i - 1]] for i, cell in enumerate(ring))
    turn._rand = lambda: 0.625  # angle +22.5: the mean of the cell and the one before it
    out = turn(g).x[0]
    assert all(out[1 + cell] == (flat[cell] + flat[ring[i - 1]]) / 2 for i, cell in enumerate(ring))
    assert out[0] == x[0, 0] and out[1 + 4] == 4


@pytest.mark.parametrize("turn", ["flip", 90.0, -90.0])
def test_augment_turns_shape_features_like_the_image(digits, turn):
    """Flip/rotate the graph's moments/gradient/occupancy columns == the features of the flipped/rotated image."""
    feats = ("centroid", "moments", "gradient", "occupancy")
    img = as_image(digits[0][3])
    seg = slic_segments(img, 40)
    g = graph_from_segments(img, seg, features=feats, edge_attr=())
    if turn == "flip":
        aug = GraphAugment(flip=1.0, features=feature_names(feats, 1), edge_attr=())
        img2, seg2 = img[:, ::-1], seg[:, ::-1]
    else:  # np.rot90(k=1) turns the array counter-clockwise as displayed (y down): -90 degrees in pos
        aug = GraphAugment(flip=0.0, rotate=abs(turn), features=feature_names(feats, 1), edge_attr=())
        aug._rand = lambda: 1.0 if turn > 0 else 0.0  # the angle drawn: exactly +/-turn
        img2, seg2 = np.rot90(img, 1 if turn < 0 else -1), np.rot90(seg, 1 if turn < 0 else -1)
    out = aug(g)
    ref = graph_from_segments(np.ascontiguousarray(img2), np.ascontiguousarray(seg2), features=feats,
                              edge_attr=())
    assert torch.allclose(out.pos, ref.pos, atol=1e-4)  # same segment ids, so rows correspond
    assert torch.allclose(out.x, ref.x, atol=1e-4)


def test_flip_and_turn_read_the_image_size_from_the_data():
    """A 10 (high) x 30 (wide) image: a flip mirrors x about (W - 1) / 2 = 14.5, a half turn maps (x, y) to
    (W - 1 - x, H - 1 - y), the centroid columns follow over (W - 1, H - 1), distances over max(H, W)."""
    from pyg_graphcls.errors import GraphclsError
    pos = torch.tensor([[0.0, 0.0], [29.0, 9.0], [10.0, 3.0]])
    ei = torch.tensor([[1, 2], [0, 0]])
    names = ["centroid_x", "centroid_y"]
    x = pos / torch.tensor([29.0, 9.0])
    g = Data(x=x, pos=pos, edge_index=ei, edge_attr=torch.zeros(2, 1), image_size=torch.tensor([[10, 30]]))
    out = GraphAugment(flip=1.0, features=names)(g)
    assert torch.equal(out.pos, torch.tensor([[29.0, 0.0], [0.0, 9.0], [19.0, 3.0]]))
    assert torch.allclose(out.x, out.pos / torch.tensor([29.0, 9.0]))
    d = (out.pos[ei[0]] - out.pos[ei[1]]).norm(dim=1) / 30
    assert torch.allclose(out.edge_attr[:, 0], d)
    turn = GraphAugment(flip=0.0, rotate=180.0, features=names)
    turn._rand = lambda: 1.0
    assert torch.allclose(turn(g).pos, torch.tensor([[29.0, 9.0], [0.0, 0.0], [19.0, 6.0]]), atol=1e-5)
    del g.image_size
    with pytest.raises(GraphclsError, match="image_size"):
        GraphAugment(flip=1.0)(g)
