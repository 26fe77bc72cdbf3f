"""networkx conversion with writer-safe attributes and file export, read back by networkx itself."""
import json

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.viz import export_graphs, from_networkx_graph, networkx_layout, to_networkx_graph


KEYS = ("x", "pos", "edge_index", "edge_attr", "edge_weight", "y", "seg", "img", "image_size")


def assert_same(back: Data, d: Data) -> None:
    for key in KEYS:
        assert torch.equal(back[key], d[key]), key
        assert back[key].dtype == d[key].dtype, key


def test_attributes_are_plain_scalars(four_regions):
    G = to_networkx_graph(four_regions())
    for _, a in G.nodes(data=True):
        assert all(isinstance(v, (str, int, float, bool)) for v in a.values())
    for _, _, a in G.edges(data=True):
        assert all(isinstance(v, (str, int, float, bool)) for v in a.values())
    assert all(isinstance(v, (str, int, float, bool)) for v in G.graph.values())
    assert G.nodes[1]["pos_x"] == 8.5 and G.nodes[1]["pos_y"] == 2.0
    assert G.graph["y"] == 2
    assert networkx_layout(G)[3] == (8.5, 7.0)


def test_round_trip_in_memory_and_edits(four_regions):
    d = four_regions()
    G = to_networkx_graph(d)
    assert G.number_of_nodes() == 4 and G.number_of_edges() == 10
    assert_same(from_networkx_graph(G), d)
    # a graph edited in networkx comes back too
    G.add_edge(1, 2, eid=10, edge_attr_0=0.5, edge_attr_1=0.25, edge_weight=0.5)
    back = from_networkx_graph(G)
    assert back.edge_index.shape == (2, 11) and back.edge_attr[-1].tolist() == [0.5, 0.25]
    # an edge missing a column is an error naming it
    G.add_edge(2, 1, eid=11, edge_weight=0.5)
    with pytest.raises(GraphclsError, match="edge_attr"):
        from_networkx_graph(G)


def test_plain_networkx_graphs():
    out = from_networkx_graph(nx.path_graph(3))  # undirected: both directions
    assert out.num_nodes == 3 and out.edge_index.shape == (2, 4)
    H = nx.DiGraph()
    H.add_node("a", x=[1.0, 2.0], pos=(0.0, 1.0))
    H.add_node("b", x=[3.0, 4.0], pos=(2.0, 3.0))
    H.add_edge("a", "b", weight=0.5)
    out = from_networkx_graph(H)
    assert out.x.tolist() == [[1.0, 2.0], [3.0, 4.0]] and out.edge_weight.tolist() == [0.5]
    with pytest.raises(GraphclsError, match="networkx graph"):
        from_networkx_graph([1, 2])


def test_named_columns(four_regions):
    d = four_regions()
    names = ["mean_0", "mean_1", "mean_2", "centroid_x", "centroid_y"]
    G = to_networkx_graph(d, feature_names=names)
    assert G.nodes[2]["centroid_x"] == pytest.approx(float(d.x[2, 3]))
    assert torch.equal(from_networkx_graph(G).x, d.x)
    with pytest.raises(GraphclsError, match="5 columns"):
        to_networkx_graph(d, feature_names=names[:3])


def test_graphml_round_trip(tmp_path, four_regions):
    d = four_regions()
    batch = Batch.from_data_list([d, four_regions()])
    files = export_graphs([batch.get_example(0), batch.get_example(1)], tmp_path / "out", "graphml")
    assert [f.name for f in files] == ["000000.graphml", "000001.graphml"]
    G = nx.read_graphml(files[0])
    assert G.number_of_nodes() == 4 and G.number_of_edges() == 10
    assert_same(from_networkx_graph(G), d)


def test_gexf_keeps_nodes_and_edges(tmp_path, four_regions):
    """GEXF drops graph attributes (dtypes, y): node and edge columns come back by their names."""
    d = four_regions()
    nx.write_gexf(to_networkx_graph(d), tmp_path / "g.gexf")
    back = from_networkx_graph(nx.read_gexf(tmp_path / "g.gexf"))
    for key in ("x", "pos", "edge_index", "edge_attr", "edge_weight"):
        assert torch.allclose(back[key].float(), d[key].float()), key


def test_json_round_trip(tmp_path, four_regions):
    d = four_regions()
    (path,) = export_graphs([d, d], tmp_path / "j", "json")
    items = json.loads(path.read_text())
    assert len(items) == 2
    assert_same(from_networkx_graph(nx.node_link_graph(items[1], edges="edges")), d)


def test_npz_layout(tmp_path, four_regions):
    a, b = four_regions(), four_regions()
    b.x = b.x[:3]
    b.pos = b.pos[:3]
    b.edge_index = torch.tensor([[0, 1], [1, 2]])
    b.edge_attr = b.edge_attr[:2]
    b.y = torch.tensor([7])
    (path,) = export_graphs([a, b], tmp_path / "split", "npz", feature_names=list("abcde"))
    z = np.load(path)
    assert z["node_ptr"].tolist() == [0, 4, 7] and z["edge_ptr"].tolist() == [0, 10, 12]
    assert np.array_equal(z["x"][4:7], b.x.numpy()) and z["y"].tolist() == [2, 7]
    assert np.array_equal(z["edge_index"][:, 10:], b.edge_index.numpy())
    assert z["feature_names"].tolist() == list("abcde")


def test_bad_format(tmp_path, four_regions):
    with pytest.raises(GraphclsError, match="graphml"):
        export_graphs([four_regions()], tmp_path, "xml")
    (tmp_path / "file").write_text("x")
    with pytest.raises(GraphclsError, match="not a folder"):
        export_graphs([four_regions()], tmp_path / "file", "graphml")
