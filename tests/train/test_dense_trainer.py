"""The Trainer picks the dense path by itself when the data packs and the model has one."""
import pytest
import torch
from torch_geometric.data import Batch, Data

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs import superpixel_graph
from pyg_graphcls.models import create_model
from pyg_graphcls.train import Trainer
from pyg_graphcls.train.fast import DenseGraphBatch, PackedGraphs, dense_view


@pytest.fixture
def graphs(digits):
    imgs, labels = digits
    return [superpixel_graph(im, y=int(lab), n_segments=40, features=["mean", "centroid"], edges="knn", k=6)
            for im, lab in zip(imgs, labels)]


class Spy(torch.nn.Module):
    """Records the batch types a model is given."""

    def __init__(self, model):
        super().__init__()
        self.model, self.seen = model, set()
        self.supports_dense = getattr(model, "supports_dense", False)

    def forward(self, data):
        self.seen.add(type(data))
        return self.model(data)


@pytest.mark.parametrize("dense,expect", [(None, DenseGraphBatch), (True, DenseGraphBatch), (False, Batch)])
def test_trainer_chooses_the_path(graphs, dense, expect):
    torch.manual_seed(0)
    spy = Spy(create_model("dirconv", in_channels=3, num_classes=10, hidden=16, num_layers=2))
    t = Trainer(spy, epochs=1, batch_size=8, progress=False, eval_train_size=8, dense=dense)
    t.fit(graphs[:32], graphs[32:])
    t.evaluate(graphs[32:])
    assert len(spy.seen) == 1 and issubclass(spy.seen.pop(), expect)


def test_no_dense_path_falls_back_or_raises(graphs):
    torch.manual_seed(0)
    grid = create_model("dirconv-grid", in_channels=3, num_classes=10)
    assert dense_view(graphs, grid) is graphs
    with pytest.raises(GraphclsError, match="no dense path"):
        dense_view(graphs, grid, dense=True)
    gcn = create_model("gcn", in_channels=3, num_classes=10)
    assert dense_view(graphs, gcn, task="multilabel") is graphs
    assert isinstance(dense_view(graphs, gcn), PackedGraphs)
    hub = Data(x=torch.rand(50, 3), edge_index=torch.stack([torch.arange(1, 50), torch.zeros(49, dtype=torch.long)]),
               y=torch.tensor([0]))  # node 0 receives 49 edges
    assert dense_view([hub] * 3, gcn) == [hub] * 3
    with pytest.raises(GraphclsError, match="in-degree"):
        dense_view([hub] * 3, gcn, dense=True)


@pytest.mark.parametrize("name", ["dirconv", "gatedgcn", "gcn"])
def test_training_is_the_same_on_both_paths(graphs, name):
    """The same seed gives the same training losses on both paths. (Eval-mode figures are not compared
    across runs: a bias feeding a BatchNorm has a true gradient of 0, and Adam turns its ~1e-9 rounding
    noise, which differs between any two summation orders, into steps of size lr; the running means
    follow. Instead the trained model must give the same eval logits on both paths.)"""
    hist = []
    for dense in (False, True):
        torch.manual_seed(0)
        model = create_model(name, in_channels=3, num_classes=10, hidden=16, num_layers=2)
        t = Trainer(model, epochs=2, batch_size=8, lr=1e-3, progress=False, eval_train_size=0, dense=dense, seed=1,
                    amp=False)  # float32: the paths sum in different orders, which bfloat16 would magnify
        hist.append(t.fit(graphs[:32]))
    for a, b in zip(*hist):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-5)
        assert a["train_accuracy"] == b["train_accuracy"]
    model.eval()
    assert torch.allclose(model(Batch.from_data_list(graphs[32:])),
                          model(PackedGraphs(graphs[32:]).batch(torch.arange(8))), atol=1e-5)
