import json

import numpy as np
import pytest
import torch

from pyg_graphcls.datasets import ImageGraphDataset
from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.io import load_tensors
from pyg_graphcls.models import create_model
from pyg_graphcls.train import Trainer, confusion_matrix, load_model, resolve_device, split_dataset


@pytest.fixture
def graphs(tmp_path, digits):
    x, y = digits
    return ImageGraphDataset(tmp_path / "cache", x, y, progress=False, graph_kwargs={"n_segments": 25})


def run(graphs, out, epochs, resume=False, stop_after=None, **kw):
    torch.manual_seed(0)
    model = create_model("gcn", in_channels=graphs.num_node_features, num_classes=10, hidden=16, num_layers=2)
    tr, va = split_dataset(graphs, 0.25, seed=0)
    kw.setdefault("lr", 5e-3)
    t = Trainer(model, epochs=epochs, batch_size=8, out_dir=out, progress=False, eval_train_size=8, **kw)
    t.fit(tr, va, resume=resume, stop_after=stop_after)
    return t


def test_loss_falls_and_files_are_written(graphs, tmp_path):
    t = run(graphs, tmp_path / "run", epochs=6, scheduler="none")
    h = t.history
    assert len(h) == 6 and h[-1]["train_loss"] < h[0]["train_loss"]
    for k in ("val_accuracy", "val_loss", "train_eval_accuracy", "lr", "seconds"):
        assert k in h[0]
    for f in ("checkpoint.pt", "last.pt", "history.csv", "history.json"):
        assert (tmp_path / "run" / f).is_file()
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())) == 6
    assert (tmp_path / "run" / "history.csv").read_text().count("\n") == 7
    model, ckpt = load_model(tmp_path / "run" / "checkpoint.pt")
    assert ckpt["epoch"] == t.best_epoch and ckpt["metrics"]["val_accuracy"] == pytest.approx(t.best_metric)


def test_resume_gives_the_same_result(graphs, tmp_path):
    full = run(graphs, tmp_path / "full", epochs=4)
    part = run(graphs, tmp_path / "part", epochs=4, stop_after=2)
    assert len(part.history) == 2
    # a new process would rebuild the trainer with the full schedule and resume
    resumed = run(graphs, tmp_path / "part", epochs=4, resume=True)
    assert len(resumed.history) == 4
    for a, b in zip(full.history, resumed.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
        assert a["val_accuracy"] == b["val_accuracy"]
    for (k, v), (_, w) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.allclose(v, w, atol=1e-6), k


def test_early_stopping(graphs, tmp_path):
    t = run(graphs, tmp_path / "es", epochs=30, patience=2, lr=1e-9)
    assert len(t.history) < 30


def test_checkpoint_loads_weights_only(graphs, tmp_path):
    run(graphs, tmp_path / "r", epochs=1)
    ckpt = load_tensors(tmp_path / "r" / "checkpoint.pt")  # weights_only=True inside
    assert ckpt["model_config"]["name"] == "gcn"


def test_evaluate_confusion_matrix(graphs):
    torch.manual_seed(0)
    model = create_model("mlp", in_channels=graphs.num_node_features, num_classes=10)
    t = Trainer(model, progress=False)
    res = t.evaluate(graphs)
    cm = torch.tensor(res["confusion_matrix"])
    logits, y = t.predict(graphs)
    assert cm.sum() == len(graphs) and cm.trace() / len(graphs) == pytest.approx(res["accuracy"])
    manual = torch.zeros(10, 10, dtype=torch.long)
    for p, q in zip(logits.argmax(1).tolist(), y.tolist()):
        manual[q, p] += 1
    assert torch.equal(cm, manual)


def test_confusion_hand_example():
    cm = confusion_matrix(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]), 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_trainer_errors(graphs):
    with pytest.raises(GraphclsError, match="CUDA"):
        if torch.cuda.is_available():
            pytest.skip("CUDA present")
        resolve_device("cuda")
    model = create_model("gcn", in_channels=graphs.num_node_features, num_classes=3)
    with pytest.raises(GraphclsError, match="classes"):
        Trainer(model, epochs=1, progress=False).fit(graphs)
    with pytest.raises(GraphclsError, match="task"):
        Trainer(model, task="regression")


def test_split_is_seeded_and_disjoint(graphs):
    a, b = split_dataset(graphs, 0.25, seed=3)
    c, _ = split_dataset(graphs, 0.25, seed=3)
    e, _ = split_dataset(graphs, 0.25, seed=4)
    assert len(a) == 30 and len(b) == 10
    ia, ib, ic, ie = (set(d.indices()) for d in (a, b, c, e))
    assert ia == ic and ia != ie and not ia & ib and len(ia | ib) == 40


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_amp_training(graphs, tmp_path):
    t = run(graphs, tmp_path / "cuda", epochs=2, device="cuda")
    assert t.device.type == "cuda" and t.amp
