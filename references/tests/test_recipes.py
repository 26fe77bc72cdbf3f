"""references/: the recipes as graphcls train configs, one tiny run, ablation overrides, the table runner."""
import json

import pytest

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.graphs.features import feature_names
from pyg_graphcls.models import create_model
from references.recipes import (config_path, graph_kwargs, model_kwargs, names, override_argv, recipe_args,
                                recipe_data, run)

#: every recipe with a row in references/RESULTS.md
TABLE = {"mlp", "gcn", "gat", "dirconv", "dirconv-aug", "dirconv-rich", "dirconv-rich-reg", "raster", "raster-regions",
         "dirconv-ward", "raster-ward", "raster-ward-mean", "raster-ward-mp", "gatedgcn", "dirconv-grid", "cnn",
         "cnn-9px"}


def test_the_configs_are_the_table_rows():
    assert set(names()) == TABLE
    with pytest.raises(GraphclsError, match="unknown recipe"):
        config_path("resnet-9000")


@pytest.mark.parametrize("name", sorted(TABLE))
def test_every_config_parses_and_its_model_fits_budget(name):
    args = recipe_args(name)
    assert args.dataset == "fashion-mnist" and args.split_seed == 0 and args.val_fraction == 0.1
    assert args.batch_size == 64 and args.epochs == 30 and args.eval_train_size == 0
    f = {"grid": 3, "image": 1}.get(args.graph)
    if args.graph == "superpixels":  # the recipe's own columns (raster-regions reads bbox/occupancy by index)
        gkw = graph_kwargs(args)
        assert gkw["n_segments"] == 75 and gkw["k"] == 8
        f = len(feature_names(gkw["features"], 1))
    m = create_model(args.model, in_channels=f, num_classes=10, **model_kwargs(args))
    assert sum(p.numel() for p in m.parameters()) <= 100_000


def test_cnn_9px_trains_on_9x9_block_means():
    import numpy as np
    from pyg_graphcls.datasets import load_images
    data = recipe_data(recipe_args("cnn-9px", ["--dataset", "sample", "--train-size", "20", "--test-size", "5"]))
    assert data.train[0][0].shape == (1, 9, 9) and data.num_features == 1 and (len(data.train), len(data.val)) == (18, 2)
    img0 = load_images("sample")[2][0].astype(np.float64)
    lo, hi = [28 * i // 9 for i in range(9)], [-(-28 * (i + 1) // 9) for i in range(9)]
    ref = np.array([[img0[lo[i]:hi[i], lo[j]:hi[j]].mean() for j in range(9)] for i in range(9)])
    assert np.allclose(data.test[0][0][0].numpy() * 255, np.round(ref), atol=1e-3)


def test_run_tiny(tiny_idx, tmp_path):
    res = run("dirconv", train_size=32, seed=0, epochs=1, test_size=8, root=tmp_path / "cache",
              workers=1, dataset=f"idx:{tiny_idx}", device="cpu", out_dir=tmp_path / "run")
    assert (res["train"], res["val"], res["test"], res["epochs"]) == (29, 3, 8, 1)
    assert res["graph"] == "superpixels" and res["data"] == f"idx:{tiny_idx}"
    assert 0 <= res["test_accuracy"] <= 1 and res["parameters"] <= 100_000
    assert (tmp_path / "run" / "run.json").is_file() and (tmp_path / "run" / "checkpoint.pt").is_file()
    json.dumps(res)  # the table writes it as JSON


def test_overrides_merge_and_reach_the_model(tiny_idx, tmp_path):
    args = recipe_args("dirconv-aug", override_argv({"model_arg": {"hidden": 8}, "lr": 0.5,
                                                     "augment": {"flip": 0.0}}))
    assert model_kwargs(args) == {"hidden": 8} and args.lr == 0.5
    from references.recipes import augment_kwargs
    assert augment_kwargs(args) == {"flip": 0.0, "rotate": 10.0, "jitter": 0.3, "node_drop": 0.05}  # merged
    old_style = recipe_args("dirconv", override_argv({"model_kwargs": {"hidden": 8},
                                                      "graph_kwargs": {"merge": "ward", "k": 4}}))
    assert model_kwargs(old_style) == {"hidden": 8} and graph_kwargs(old_style)["merge"] == "ward"
    assert graph_kwargs(old_style)["k"] == 4
    with pytest.raises(GraphclsError, match="unknown key 'modle_arg'"):
        override_argv({"modle_arg": {}})
    small = run("dirconv", train_size=32, seed=0, epochs=1, test_size=8, root=tmp_path / "cache", workers=1,
                dataset=f"idx:{tiny_idx}", device="cpu", overrides={"model_arg": {"hidden": 8}})
    assert small["overrides"] == {"model_arg": {"hidden": 8}}
    assert small["parameters"] == sum(p.numel() for p in create_model(
        "dirconv", in_channels=len(feature_names(graph_kwargs(args)["features"], 1)), num_classes=10,
        hidden=8).parameters())


def test_accuracy_table_variant_rows(tmp_path, monkeypatch, capsys):
    """references.accuracy --overrides/--variant: its own row next to the plain recipe; a run already in
    the JSON is skipped; a seed list that selects nothing is refused."""
    from references import accuracy
    calls = []

    def fake_run(name, **kw):
        calls.append((name, kw.get("overrides")))
        return {"recipe": name, "model": "dirconv", "graph": "superpixels", "test_accuracy": 0.5 + 0.1 * len(calls),
                "best_val_accuracy": 0.5, "best_epoch": 1, "epochs": 1, "parameters": 10, "seconds_per_epoch": 1.0}

    monkeypatch.setattr(accuracy, "run", fake_run)
    js = tmp_path / "acc.json"
    base = ["--recipes", "dirconv", "--train-sizes", "32", "--seeds", "0,", "--epochs", "1", "--json", str(js)]
    accuracy.main(base)
    accuracy.main(base + ["--overrides", '{"model_arg": {"hidden": 8}}', "--variant", "h8"])
    accuracy.main(base + ["--overrides", '{"model_arg": {"hidden": 8}}', "--variant", "h8"])  # skipped
    assert calls == [("dirconv", None), ("dirconv", {"model_arg": {"hidden": 8}})]
    runs = json.loads(js.read_text())["runs"]
    assert [r.get("variant") for r in runs] == [None, "h8"]
    assert "| 32 | dirconv [h8] |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        accuracy.main(base[:4] + ["--seeds", "0"])
    with pytest.raises(SystemExit):
        accuracy.main(base + ["--overrides", "{}"])
    with pytest.raises(GraphclsError, match="unknown recipe"):
        accuracy.main(["--recipes", "dirconv-quad", "--json", str(js)])


@pytest.mark.parametrize("name", sorted(TABLE))
def test_every_config_builds_the_model_its_recorded_runs_trained(name):
    """The parameter count of each config's model equals that of the runs recorded for the recipe in
    accuracy.json (plain rows: no variant, no overrides, Fashion-MNIST)."""
    from pathlib import Path
    runs = json.loads((Path(__file__).resolve().parents[1] / "accuracy.json").read_text())["runs"]
    recorded = {r["parameters"] for r in runs if r["recipe"] == name and not r.get("variant")
                and not r.get("overrides") and r.get("dataset") is None}
    assert len(recorded) == 1, recorded
    args = recipe_args(name)
    assert {(r["model"], r["graph"]) for r in runs if r["recipe"] == name} == {(args.model, args.graph)}
    f = {"grid": 3, "image": 1}.get(args.graph) or len(feature_names(graph_kwargs(args)["features"], 1))
    m = create_model(args.model, in_channels=f, num_classes=10, **model_kwargs(args))
    assert sum(p.numel() for p in m.parameters()) == recorded.pop()
