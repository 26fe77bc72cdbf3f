"""Resuming refuses a last.pt whose schedule, model or data differ, and says what differs."""
import numpy as np
import pytest
import torch

from pyg_graphcls.datasets import ImageGraphDataset
from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.models import create_model
from pyg_graphcls.train import Trainer
from pyg_graphcls.train.resume import resume_differences


@pytest.fixture
def graphs(tmp_path, digits):
    x, y = digits
    return ImageGraphDataset(tmp_path / "c", x[:16], y[:16], graph="superpixels", graph_kwargs={"n_segments": 12},
                             workers=1, progress=False)


def _trainer(ds, out, hidden=4, **kw):
    torch.manual_seed(0)
    model = create_model("gcn", in_channels=ds.num_node_features, num_classes=10, hidden=hidden, num_layers=1)
    args = dict(epochs=3, batch_size=8, lr=1e-2, progress=False, eval_train_size=0, out_dir=out,
                checkpoint_extra={"dataset": "d", "graph": "superpixels", "graph_kwargs": {"n_segments": 12},
                                  "data_fingerprint": "a" * 40})
    args.update(kw)
    return Trainer(model, **args)


def test_schedule_is_stored_and_a_longer_schedule_refused(graphs, tmp_path):
    t = _trainer(graphs, tmp_path / "run")
    t.fit(graphs, stop_after=2)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert state["schedule"] == {"scheduler": "cosine", "epochs": 3, "lr": 0.01, "weight_decay": 0.0,
                                 "batch_size": 8, "seed": 0}
    longer = _trainer(graphs, tmp_path / "run", epochs=6)
    with pytest.raises(GraphclsError, match=r"cannot resume from .*last.pt: epochs \(the schedule's length\) 3 -> 6"):
        longer.fit(graphs, resume=True)
    same = _trainer(graphs, tmp_path / "run")
    hist = same.fit(graphs, resume=True)
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert hist[-1]["lr"] == pytest.approx(0.01 * (1 + np.cos(np.pi * 2 / 3)) / 2)  # the 3-epoch cosine


@pytest.mark.parametrize("change,msg", [
    (dict(hidden=8), "model argument hidden 4 -> 8"),
    (dict(lr=0.1), "lr 0.01 -> 0.1"),
    (dict(scheduler="step"), 'scheduler "cosine" -> "step"'),
    (dict(checkpoint_extra={"dataset": "d", "graph": "superpixels", "graph_kwargs": {"n_segments": 30},
                            "data_fingerprint": "b" * 40}), "data fingerprint aaaaaaaaaaaa -> bbbbbbbbbbbb; "
                                                            'graph settings {"n_segments": 12} -> {"n_segments": 30}'),
])
def test_other_settings_are_refused(graphs, tmp_path, change, msg):
    _trainer(graphs, tmp_path / "run").fit(graphs, stop_after=1)
    before = (tmp_path / "run" / "last.pt").read_bytes()
    other = _trainer(graphs, tmp_path / "run", **change)
    with pytest.raises(GraphclsError, match="cannot resume") as e:
        other.check_resume(tmp_path / "run" / "last.pt")
    assert msg in str(e.value)
    assert (tmp_path / "run" / "last.pt").read_bytes() == before


def test_older_states_without_the_new_keys_still_resume():
    assert resume_differences({"model_config": {"name": "gcn", "kwargs": {}}}, schedule={"epochs": 3},
                              extra={"graph": "grid"}, model_config={"name": "gcn", "kwargs": {}}) == []
    assert resume_differences({"model_config": {"name": "gcn", "kwargs": {}}}, schedule={},
                              extra={}, model_config={"name": "gat", "kwargs": {}}) == ["model 'gcn' -> 'gat'"]
