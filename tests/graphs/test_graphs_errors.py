"""graphs/: options at their edges and errors raised at the entry, naming the argument."""
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import SuperpixelGraph, knn_graph, patch_graph, region_adjacency, superpixel_graph
from pyg_graphcls.graphs.augment import GraphAugment
from pyg_graphcls.graphs.edges import edge_features
from pyg_graphcls.graphs.features import feature_names, shape_features
from pyg_graphcls.graphs.superpixels import segment_features, segments_to_storage, superpixel_graphs

IMG = (np.add.outer(np.arange(12), np.arange(16)) * 9 % 256).astype(np.uint8)


def test_edges_none_and_bad_edge_options():
    g = superpixel_graph(IMG, n_segments=8, edges="none", edge_attr=())
    assert g.edge_index.shape == (2, 0) and g.num_nodes > 1 and "edge_attr" not in g
    p = patch_graph(IMG, patch_size=4, edges="none", position=True)
    assert p.edge_index.shape == (2, 0)
    assert torch.allclose(p.x[-1, -2:], torch.tensor([1.0, 1.0]))  # the last patch's normalised (column, row)
    with pytest.raises(GraphclsError, match="edges must be"):
        superpixel_graph(IMG, edges="delaunay")
    with pytest.raises(GraphclsError, match="edges must be"):
        patch_graph(IMG, edges="delaunay")
    with pytest.raises(GraphclsError, match="method must be"):
        superpixel_graph(IMG, method="quick")
    with pytest.raises(GraphclsError, match="unknown edge feature"):
        superpixel_graph(IMG, edge_attr=("angle",))
    with pytest.raises(GraphclsError, match="unknown edge feature"):
        edge_features(torch.zeros(2, 2), torch.zeros(2, 0, dtype=torch.long), ("angle",), 1.0)


def test_knn_and_adjacency_arguments():
    with pytest.raises(GraphclsError, match="k must be"):
        knn_graph(torch.rand(4, 2), -1)
    assert knn_graph(torch.rand(1, 2), 3, batch=torch.zeros(1, dtype=torch.long), use_compiled=False).shape == (2, 0)
    with pytest.raises(GraphclsError, match="connectivity"):
        region_adjacency(np.zeros((3, 3), int), 6)
    with pytest.raises(GraphclsError, match="seg must be"):
        region_adjacency(np.zeros(3, int))


def test_labels_and_feature_arguments():
    imgs = np.stack([IMG, IMG])
    with pytest.raises(GraphclsError, match="2 images but 3 labels"):
        superpixel_graphs(imgs, y=[0, 1, 2])
    seg = torch.zeros(2, 12, 16, dtype=torch.long)
    with pytest.raises(GraphclsError, match="2 images but 1 labels"):
        segments_to_storage(imgs, seg, y=[0])
    with pytest.raises(GraphclsError, match="segment_features needs"):
        segment_features(np.zeros((4, 4, 1)), np.zeros((3, 4), int))
    assert feature_names("area", 1) == ["area"]  # one name as a string
    with pytest.raises(GraphclsError, match="moments"):
        shape_features("skew", *[torch.ones(1)] * 6)


def test_transform_input_and_image_size_of_batches():
    with pytest.raises(GraphclsError, match="no 'img'"):
        SuperpixelGraph(n_segments=8)(Data(x=torch.zeros(1, 1)))
    a = superpixel_graph(IMG, n_segments=8, edge_attr=())
    b = superpixel_graph(IMG[:, :12], n_segments=8, edge_attr=())
    names = feature_names(("mean", "centroid"), 1)
    with pytest.raises(GraphclsError, match="differs"):
        GraphAugment(flip=1.0, features=names, edge_attr=())(Batch.from_data_list([a, b]))
    same = GraphAugment(flip=1.0, features=names, edge_attr=())(Batch.from_data_list([a, a]))
    assert torch.allclose(same.pos[:, 0], 15 - torch.cat([a.pos, a.pos])[:, 0])


def test_augment_arguments():
    with pytest.raises(GraphclsError, match="rotate >= 0"):
        GraphAugment(rotate=-1.0)
    with pytest.raises(GraphclsError, match="unknown edge feature"):
        GraphAugment(edge_attr=("angle",))
    with pytest.raises(GraphclsError, match="needs data.pos"):
        GraphAugment()(Data(x=torch.zeros(2, 1)))
    g = superpixel_graph(IMG, n_segments=8)
    with pytest.raises(GraphclsError, match="columns but features names"):
        GraphAugment(features=["mean_0"])(g)
    assert repr(GraphAugment(flip=0.25)) == "GraphAugment(flip=0.25, rotate=0.0, jitter=0.0, node_drop=0.0)"


def test_match_layout_arguments():
    from pyg_graphcls.datasets.mnist_superpixels import MatchSuperpixelLayout
    with pytest.raises(GraphclsError, match="image_size"):
        MatchSuperpixelLayout(image_size=(0, 28))
    g = Data(x=torch.ones(2, 1), pos=torch.tensor([[0.0, 0.0], [3.0, 4.0]]), edge_index=torch.tensor([[0], [1]]),
             y=torch.tensor([1]))
    out = MatchSuperpixelLayout(edge_attr=())(g)
    assert out.edge_attr is None and out.image_size.tolist() == [[28, 28]]
    assert repr(MatchSuperpixelLayout()) == "MatchSuperpixelLayout(image_size=(28, 28), edge_attr=('distance',))"
