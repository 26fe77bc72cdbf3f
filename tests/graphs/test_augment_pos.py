"""Position augmentation of superpixel graphs (flip, rotate, jitter, node drop) and a model on the result."""
import pytest
import torch
from torch_geometric.data import Batch, Data

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import superpixel_graph
from pyg_graphcls.graphs.augment import GraphAugment, drop_nodes, flip_pos, rotate_pos
from pyg_graphcls.graphs.edges import edge_features
from pyg_graphcls.models import create_model

SUPERPIXEL_GRAPH = {"n_segments": 75, "features": ["mean", "std", "centroid", "area", "bbox"], "edges": "knn",
                    "k": 8, "edge_attr": ["distance", "cartesian"]}
SUPERPIXEL_FEATURE_NAMES = ["mean_0", "std_0", "centroid_x", "centroid_y", "area",
                            "bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1"]


@pytest.fixture(scope="module")
def sp_graphs():
    from pyg_graphcls.datasets import load_idx_dir, sample_dir
    tri, trl, _, _ = load_idx_dir(sample_dir())
    return [superpixel_graph(img, y=int(lab), **SUPERPIXEL_GRAPH) for img, lab in zip(tri[:3], trl[:3])]


def test_flip_and_rotate_pos():
    pos = torch.tensor([[0.0, 5.0], [27.0, 0.0], [13.5, 13.5]])
    assert torch.equal(flip_pos(pos, 28), torch.tensor([[27.0, 5.0], [0.0, 0.0], [13.5, 13.5]]))
    r = rotate_pos(pos, 90, 28)
    assert torch.allclose(r[2], pos[2])  # the centre stays
    assert torch.allclose(rotate_pos(r, -90, 28), pos, atol=1e-5)
    assert torch.allclose((r - 13.5).norm(dim=1), (pos - 13.5).norm(dim=1), atol=1e-5)


def test_graph_augment_flip_keeps_graph_consistent(sp_graphs):
    g = sp_graphs[0]
    aug = GraphAugment(flip=1.0, features=SUPERPIXEL_FEATURE_NAMES, edge_attr=SUPERPIXEL_GRAPH["edge_attr"])
    out = aug(g)
    assert out.x.shape == g.x.shape and out.edge_index.shape == g.edge_index.shape
    assert out.edge_attr.shape == g.edge_attr.shape and out.y == g.y
    assert torch.allclose(out.pos[:, 0], 27 - g.pos[:, 0]) and torch.equal(out.pos[:, 1], g.pos[:, 1])
    col = {n: i for i, n in enumerate(SUPERPIXEL_FEATURE_NAMES)}
    assert torch.allclose(out.x[:, col["centroid_x"]], 1 - g.x[:, col["centroid_x"]], atol=1e-5)
    assert torch.allclose(out.x[:, col["bbox_x0"]], 1 - g.x[:, col["bbox_x1"]], atol=1e-5)
    assert torch.allclose(out.x[:, col["bbox_y1"]], g.x[:, col["bbox_y1"]], atol=1e-5)
    for name in ("mean_0", "std_0", "area"):
        assert torch.equal(out.x[:, col[name]], g.x[:, col[name]])
    ref = edge_features(out.pos, g.edge_index, SUPERPIXEL_GRAPH["edge_attr"], scale=28.0)
    assert torch.allclose(out.edge_attr, ref)
    # distance unchanged, cartesian dx mirrored, dy unchanged
    assert torch.allclose(out.edge_attr[:, 0], g.edge_attr[:, 0], atol=1e-5)
    assert torch.allclose(out.edge_attr[:, 1:], g.edge_attr[:, 1:] * torch.tensor([-1.0, 1.0]), atol=1e-5)
    assert torch.equal(g.pos, sp_graphs[0].pos)  # input untouched


def test_graph_augment_random_ops_keep_shapes(sp_graphs):
    gen = torch.Generator().manual_seed(0)
    aug = GraphAugment(flip=0.5, rotate=10, jitter=0.3, node_drop=0.2, features=SUPERPIXEL_FEATURE_NAMES,
                       edge_attr=SUPERPIXEL_GRAPH["edge_attr"], generator=gen)
    g = sp_graphs[1]
    out = aug(g)
    n = out.num_nodes
    assert n < g.num_nodes and out.x.shape == (n, g.x.size(1)) and out.pos.shape == (n, 2)
    assert int(out.edge_index.max()) < n and out.edge_attr.size(0) == out.edge_index.size(1)
    m = create_model("dirconv", in_channels=g.x.size(1), num_classes=10)
    assert m(Batch.from_data_list([out, aug(g)])).shape == (2, 10)
    with pytest.raises(GraphclsError):
        GraphAugment(flip=2.0)
    with pytest.raises(GraphclsError, match="columns"):
        GraphAugment(flip=1.0, edge_attr=("distance",))(g)  # g has 3 edge_attr columns


def test_drop_nodes_keeps_at_least_one():
    g = Data(x=torch.rand(3, 2), pos=torch.rand(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]]))
    out = drop_nodes(g, 0.99, torch.Generator().manual_seed(1))
    assert 1 <= out.num_nodes <= 3 and out.x.size(0) == out.num_nodes
