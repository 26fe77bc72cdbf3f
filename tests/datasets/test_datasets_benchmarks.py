"""PyG's standard superpixel sets (GNNBenchmarkDataset MNIST/CIFAR10, MNISTSuperpixels) from files in PyG's
own formats: raw files as PyG downloads them, processed by PyG itself, read again, trained on by the CLI."""
import pickle

import pytest
import torch

from pyg_graphcls.cli import main
from pyg_graphcls.datasets import load_dataset
from pyg_graphcls.errors import GraphclsError


def _graph(i: int, gen: torch.Generator, channels: int, pixels: bool, n: int = 20) -> dict:
    pos = torch.rand(n, 2, generator=gen) * (27 if pixels else 1)
    src = torch.arange(n).repeat_interleave(3)
    dst = (src + torch.tensor([1, 2, 3]).repeat(n)) % n
    return {"x": torch.rand(n, channels, generator=gen), "edge_index": torch.stack([src, dst]),
            "edge_attr": torch.rand(3 * n, generator=gen), "pos": pos, "y": torch.tensor([i % 10])}


def write_benchmark_raw(root, name="MNIST", sizes=(12, 4, 4)):
    gen = torch.Generator().manual_seed(0)
    raw = root / "gnn-benchmark" / name / "raw"
    raw.mkdir(parents=True)
    ch = 1 if name == "MNIST" else 3
    splits = [[_graph(i, gen, ch, pixels=False) for i in range(k)] for k in sizes]
    torch.save(splits, raw / f"{name}_v2.pt")
    return splits


def test_gnn_benchmark_mnist_layout_and_splits(tmp_path):
    raw = write_benchmark_raw(tmp_path)
    s = load_dataset("gnn-benchmark:MNIST", root=tmp_path)
    assert (len(s.train), len(s.val), len(s.test)) == (12, 4, 4)
    assert (tmp_path / "gnn-benchmark" / "MNIST" / "processed" / "train_data.pt").is_file()  # PyG processed it
    g, r = s.val[1], raw[1][1]
    assert torch.allclose(g.pos, r["pos"] * 28)
    assert torch.allclose(g.x, torch.cat([r["x"], r["pos"] * 28 / 27], 1))
    assert torch.equal(g.edge_weight, r["edge_attr"]) and g.image_size.tolist() == [[28, 28]]
    d = g.pos[g.edge_index[0]] - g.pos[g.edge_index[1]]
    assert torch.allclose(g.edge_attr[:, 0], d.norm(dim=1) / 28, atol=1e-6)
    # read again from PyG's processed files
    s2 = load_dataset("gnn-benchmark:MNIST", root=tmp_path, limit=5)
    assert len(s2.train) == 5 and torch.equal(s2.test[0].x, s.test[0].x)


def test_gnn_benchmark_trains_through_the_cli(tmp_path, monkeypatch):
    write_benchmark_raw(tmp_path, "CIFAR10")
    monkeypatch.setenv("PYG_GRAPHCLS_HOME", str(tmp_path))
    out = tmp_path / "run"
    assert main(["train", "--dataset", "gnn-benchmark:CIFAR10", "--epochs", "1", "--batch-size", "4", "--quiet",
                 "--out", str(out)]) == 0
    import json
    run = json.loads((out / "run.json").read_text())
    assert run["data"]["val"] == 4 and run["data"]["train"] == 12  # the set's own validation split


def test_gnn_benchmark_errors(tmp_path):
    with pytest.raises(GraphclsError, match="gnn-benchmark:MNIST"):
        load_dataset("gnn-benchmark:PATTERN", root=tmp_path)
    with pytest.raises(GraphclsError, match="superpixel graphs only"):
        load_dataset("gnn-benchmark:MNIST", graph="grid", root=tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    processed = tmp_path / "gnn-benchmark" / "MNIST" / "processed"
    processed.mkdir(parents=True)
    torch.save(Evil(), processed / "train_data.pt", pickle_module=pickle)
    with pytest.raises(GraphclsError, match="refusing"):
        load_dataset("gnn-benchmark:MNIST", root=tmp_path)


def test_mnist_superpixels_in_pyg_format_processed_and_trained(tmp_path, monkeypatch):
    """A raw file in MNISTSuperpixels' layout ([train, test] lists of dicts, pos in pixels), processed by PyG."""
    gen = torch.Generator().manual_seed(1)
    raw = tmp_path / "mnist-superpixels" / "raw"
    raw.mkdir(parents=True)
    torch.save([[_graph(i, gen, 1, pixels=True) for i in range(10)], [_graph(i, gen, 1, pixels=True) for i in range(4)]],
               raw / "MNISTSuperpixels.pt")
    s = load_dataset("mnist-superpixels", root=tmp_path)
    assert (tmp_path / "mnist-superpixels" / "processed" / "train_data.pt").is_file()
    again = load_dataset("mnist-superpixels", root=tmp_path)  # PyG's processed files, weights-only checked
    assert torch.equal(again.train[3].x, s.train[3].x)
    monkeypatch.setenv("PYG_GRAPHCLS_HOME", str(tmp_path))
    assert main(["train", "--dataset", "mnist-superpixels", "--epochs", "1", "--batch-size", "4", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
