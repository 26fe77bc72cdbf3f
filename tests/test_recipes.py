"""Named recipes of the accuracy table (issue 6): lookup, split, data loading, one tiny run."""
import json

import numpy as np
import pytest
import torch

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs.features import feature_names
from pyg_graphcls.models import create_model
from pyg_graphcls.recipes import (RECIPES, SUPERPIXEL_FEATURE_NAMES, SUPERPIXEL_GRAPH, apply_overrides, get_recipe,
                                  load_recipe_data, run_recipe, split_indices)


def test_get_recipe_unknown_and_copy():
    with pytest.raises(GraphclsError, match="unknown recipe"):
        get_recipe("resnet-9000")
    r = get_recipe("dirconv")
    r["graph_kwargs"]["k"] = 99
    assert RECIPES["dirconv"]["graph_kwargs"]["k"] == 8
    assert SUPERPIXEL_FEATURE_NAMES == feature_names(SUPERPIXEL_GRAPH["features"], 1)


def test_split_is_deterministic_and_disjoint():
    tr, va = split_indices(100, 0.1, 0)
    tr2, va2 = split_indices(100, 0.1, 0)
    assert torch.equal(tr, tr2) and torch.equal(va, va2)
    assert len(va) == 10 and len(tr) == 90
    assert not set(tr.tolist()) & set(va.tolist())
    assert sorted(tr.tolist() + va.tolist()) == list(range(100))
    assert not torch.equal(split_indices(100, 0.1, 1)[1], va)


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_model_fits_budget(name):
    r = get_recipe(name)
    f = {"grid": 3, "image": 1}.get(r["graph"])
    if r["graph"] == "superpixels":  # the recipe's own columns (raster-regions reads bbox/occupancy by index)
        f = len(feature_names(r["graph_kwargs"]["features"], 1))
    m = create_model(r["model"], in_channels=f, num_classes=10, **r["model_kwargs"])
    assert sum(p.numel() for p in m.parameters()) <= 100_000


def test_shrunk_images_are_block_means():
    from pyg_graphcls.datasets import load_images
    from pyg_graphcls.recipes import _shrink
    img = np.arange(16, dtype=np.uint8).reshape(1, 4, 4) * 10  # 2x2 blocks: means 25, 45, 105, 125
    assert _shrink(img, 2).tolist() == [[[25, 45], [105, 125]]]
    rgb = np.stack([img, img // 2], -1)
    assert _shrink(rgb, 2).shape == (1, 2, 2, 2) and _shrink(rgb, 2)[0, 1, 1].tolist() == [125, 62]
    train, val, test, f, c = load_recipe_data(get_recipe("cnn-9px"), train_size=20, test_size=5, dataset="sample")
    assert train[0][0].shape == (1, 9, 9) and test[0][0].shape == (1, 9, 9) and f == 1
    tei = load_images("sample")[2]
    img0 = tei[0].astype(np.float64)  # cell (i, j) averages rows/cols floor(28 i / 9) .. ceil(28 (i + 1) / 9) - 1
    lo = [28 * i // 9 for i in range(9)]
    hi = [-(-28 * (i + 1) // 9) for i in range(9)]
    ref = np.array([[img0[lo[i]:hi[i], lo[j]:hi[j]].mean() for j in range(9)] for i in range(9)])
    assert np.allclose(test[0][0][0].numpy() * 255, np.round(ref), atol=1e-3)
    with pytest.raises(GraphclsError, match="size"):
        _shrink(img, 0)


@pytest.mark.parametrize("name,kind", [("dirconv-grid", "grid"), ("cnn", "image")])
def test_load_recipe_data_sample_grid_and_image(name, kind):
    r = get_recipe(name)
    train, val, test, f, c = load_recipe_data(r, train_size=20, test_size=5, dataset="sample")
    assert (len(train), len(val), len(test), c) == (18, 2, 5, 10)
    if kind == "grid":
        g = train[0]
        assert g.num_nodes == 784 and g.x.size(1) == f == 3 and g.pos.shape == (784, 2)
    else:
        x, y = train[0]
        assert x.shape == (1, 28, 28) and f == 1 and 0 <= float(x.min()) and float(x.max()) <= 1
    with pytest.raises(GraphclsError, match="train_size"):
        load_recipe_data(r, train_size=10**7, dataset="sample")
    with pytest.raises(GraphclsError, match="test_size"):
        load_recipe_data(r, train_size=20, test_size=0, dataset="sample")


def test_load_recipe_data_superpixels_idx(tiny_idx, tmp_path):
    r = get_recipe("dirconv-aug")
    train, val, test, f, c = load_recipe_data(r, train_size=20, test_size=4, root=tmp_path / "cache",
                                              workers=1, dataset=f"idx:{tiny_idx}")
    assert (len(train), len(val), len(test), f, c) == (18, 2, 4, len(SUPERPIXEL_FEATURE_NAMES), 10)
    assert train.transform is not None and val.transform is None
    g = train[0]
    assert g.x.size(1) == f and g.edge_attr.size(1) == 3 and g.edge_attr.size(0) == g.edge_index.size(1)


def test_run_recipe_tiny(tiny_idx, tmp_path):
    res = run_recipe("dirconv", train_size=32, seed=0, epochs=1, test_size=8, root=tmp_path / "cache",
                     workers=1, dataset=f"idx:{tiny_idx}", device="cpu")
    assert (res["train"], res["val"], res["test"], res["epochs"]) == (29, 3, 8, 1)
    assert 0 <= res["test_accuracy"] <= 1 and res["parameters"] <= 100_000
    json.dumps(res)  # the benchmark writes it as JSON


def test_recipe_overrides_merge_and_reach_the_model(tiny_idx, tmp_path):
    r = apply_overrides(get_recipe("dirconv-rich"), {"model_kwargs": {"hidden": 8}, "lr": 0.5})
    assert r["model_kwargs"] == {"hidden": 8} and r["lr"] == 0.5
    assert r["graph_kwargs"] == RECIPES["dirconv-rich"]["graph_kwargs"] and RECIPES["dirconv-rich"]["lr"] == 2e-3
    r = apply_overrides(get_recipe("dirconv-aug"), {"augment": {"flip": 0.0}})
    assert r["augment"] == {**RECIPES["dirconv-aug"]["augment"], "flip": 0.0}  # merged, not replaced
    with pytest.raises(GraphclsError, match="unknown recipe key"):
        apply_overrides(get_recipe("dirconv"), {"modle_kwargs": {}})
    small = run_recipe("dirconv", train_size=32, seed=0, epochs=1, test_size=8, root=tmp_path / "cache", workers=1,
                       dataset=f"idx:{tiny_idx}", device="cpu", overrides={"model_kwargs": {"hidden": 8}})
    assert small["overrides"] == {"model_kwargs": {"hidden": 8}}
    assert small["parameters"] == sum(p.numel() for p in create_model(
        "dirconv", in_channels=len(SUPERPIXEL_FEATURE_NAMES), num_classes=10, hidden=8).parameters())


def test_accuracy_benchmark_variant_rows(tiny_idx, tmp_path, monkeypatch, capsys):
    """benchmarks.accuracy --overrides/--variant: its own row next to the plain recipe; a run already in
    the JSON is skipped; a seed list that selects nothing is refused."""
    from benchmarks import accuracy
    monkeypatch.setenv("PYG_GRAPHCLS_ROOT", str(tmp_path / "cache"))
    calls = []

    def fake_run(name, **kw):
        calls.append((name, kw.get("overrides")))
        return {"recipe": name, "model": "dirconv", "graph": "superpixels", "test_accuracy": 0.5 + 0.1 * len(calls),
                "best_val_accuracy": 0.5, "best_epoch": 1, "epochs": 1, "parameters": 10, "seconds_per_epoch": 1.0}

    monkeypatch.setattr(accuracy, "run_recipe", fake_run)
    js = tmp_path / "acc.json"
    base = ["--recipes", "dirconv", "--train-sizes", "32", "--seeds", "0,", "--epochs", "1", "--json", str(js)]
    accuracy.main(base)
    accuracy.main(base + ["--overrides", '{"model_kwargs": {"hidden": 8}}', "--variant", "h8"])
    accuracy.main(base + ["--overrides", '{"model_kwargs": {"hidden": 8}}', "--variant", "h8"])  # skipped
    assert calls == [("dirconv", None), ("dirconv", {"model_kwargs": {"hidden": 8}})]
    runs = json.loads(js.read_text())["runs"]
    assert [r.get("variant") for r in runs] == [None, "h8"]
    assert "| 32 | dirconv [h8] |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        accuracy.main(base[:4] + ["--seeds", "0"])
    with pytest.raises(SystemExit):
        accuracy.main(base + ["--overrides", "{}"])


def test_cli_train_recipe(tiny_idx, tmp_path):
    from pyg_graphcls.cli import main
    out = tmp_path / "run"
    assert main(["train", "--recipe", "cnn", "--dataset", f"idx:{tiny_idx}", "--epochs", "1", "--train-size", "20",
                 "--test-size", "4", "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    res = json.loads((out / "metrics.json").read_text())
    assert res["recipe"] == "cnn" and res["train"] == 18 and (out / "checkpoint.pt").is_file()
