import json
import subprocess
import sys

import pytest
import torch

from pyg_graphcls.cli import SUPERPIXEL_DEFAULTS, main


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PYG_GRAPHCLS_HOME", str(tmp_path / "home"))


def test_train_evaluate_convert_show(tmp_path, tiny_idx, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", f"idx:{tiny_idx}", "--epochs", "2", "--batch-size", "8", "--hidden", "8",
                 "--out", str(run), "--quiet", "--n-segments", "30"]) == 0
    for f in ("metrics.json", "history.csv", "checkpoint.pt", "curves.png", "confusion.png", "run.json"):
        assert (run / f).is_file(), f
    m = json.loads((run / "metrics.json").read_text())
    for k in ("test_accuracy", "best_val_accuracy", "epochs", "seconds"):
        assert k in m
    assert m["epochs"] == 2 and 0 <= m["test_accuracy"] <= 1
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run_info = json.loads((run / "run.json").read_text())
    assert len(run_info["data"]["fingerprint"]) == 40 and "torch" in run_info["versions"]
    capsys.readouterr()
    assert main(["evaluate", str(run / "checkpoint.pt")]) == 0
    out = capsys.readouterr().out
    assert f"test_accuracy = {m['test_accuracy']:.4f}" in out  # same graphs (same n_segments), same number
    assert main(["convert", "--dataset", f"idx:{tiny_idx}", "--graph", "grid", "--out", str(tmp_path / "c")]) == 0
    assert "32 train + 8 test grid graphs" in capsys.readouterr().out
    png = tmp_path / "g.png"
    assert main(["show", "--dataset", f"idx:{tiny_idx}", "--index", "2", "--graph", "patches", "-o", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv,msg", [
    (["train", "--model", "nope", "--limit", "20"], "unknown model"),
    (["train", "--dataset", "idx:/no/such/dir"], "not found"),
    (["train", "--dataset", "what"], "unknown dataset"),
    (["convert", "--graph", "grid", "--n-segments", "10"], "does not apply"),
    (["convert", "--graph", "grid", "--ward-merge"], "--ward-merge does not apply"),
    (["convert", "--graph", "grid", "--node-pos", "interior"], "--node-pos does not apply"),
    (["evaluate", "/no/such/checkpoint.pt"], "not found"),
    (["train", "--task", "multilabel", "--dataset", "sample"], "canvas"),
])
def test_bad_arguments_exit_2_with_one_line(argv, msg, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("graphcls: error:") and msg in err and "\n" not in err


def test_evaluate_refuses_foreign_checkpoint(tmp_path, capsys):
    import torch
    p = tmp_path / "x.pt"
    torch.save({"state": torch.zeros(2)}, p)
    assert main(["evaluate", str(p)]) == 2
    assert "not a pyg_graphcls checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("head,model", [("label-attention", "head-label-attention"), ("mlgcn", "head-mlgcn"),
                                        ("grouped", "head-grouped"), ("none", "head-linear")])
def test_multilabel_canvas_run(tmp_path, head, model):
    run = tmp_path / "ml"
    assert main(["train", "--task", "multilabel", "--dataset", "canvas", "--head", head, "--epochs", "1",
                 "--canvas-train", "48", "--canvas-test", "24", "--limit", "300", "--out", str(run), "--quiet"]) == 0
    m = json.loads((run / "metrics.json").read_text())
    assert m["model"] == model and m["task"] == "multilabel"
    for k in ("test_map", "test_cp", "test_cr", "test_cf1", "test_op", "test_or", "test_of1", "best_val_map"):
        assert 0 <= m[k] <= 1, k
    row = json.loads((run / "history.json").read_text())[-1]
    assert 0 <= row["train_eval_map"] <= 1 and 0 <= row["val_map"] <= 1


def test_module_entry_point():
    r = subprocess.run([sys.executable, "-m", "pyg_graphcls", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "convert" in r.stdout and "train" in r.stdout


def test_convert_method_fast_caches_separately(tmp_path, tiny_idx, capsys):
    from pyg_graphcls.datasets import load_dataset
    args = ["convert", "--dataset", f"idx:{tiny_idx}", "--graph", "superpixels", "--out", str(tmp_path / "c"),
            "--quiet", "--workers", "1"]
    assert main(args) == 0 and main(args + ["--method", "skimage"]) == 0   # default: the batched method
    ref = load_dataset(f"idx:{tiny_idx}", "superpixels", {**SUPERPIXEL_DEFAULTS, "method": "skimage"},
                       root=tmp_path / "c", progress=False, workers=1)
    fast = load_dataset(f"idx:{tiny_idx}", "superpixels", dict(SUPERPIXEL_DEFAULTS), root=tmp_path / "c",
                        progress=False, workers=1)
    assert not ref.train.converted and not fast.train.converted  # both were cached by the CLI, apart
    assert ref.train.cache_path != fast.train.cache_path
    assert len(fast.train) == len(ref.train) and fast.train[0].x.size(1) == ref.train[0].x.size(1)
    grid = ["convert", "--dataset", f"idx:{tiny_idx}", "--graph", "grid", "--method", "fast", "--out", str(tmp_path)]
    assert main(grid) == 2  # superpixels only
    assert "--method does not apply" in capsys.readouterr().err


def test_convert_ward_merge_gives_exactly_n_segments(tmp_path, tiny_idx):
    from pyg_graphcls.datasets import load_dataset
    assert main(["convert", "--dataset", f"idx:{tiny_idx}", "--ward-merge", "--n-segments", "40", "--out",
                 str(tmp_path), "--quiet", "--workers", "1"]) == 0
    ds = load_dataset(f"idx:{tiny_idx}", "superpixels", {**SUPERPIXEL_DEFAULTS, "merge": "ward", "n_segments": 40},
                      root=tmp_path, progress=False, workers=1)
    assert not ds.train.converted  # the CLI cached exactly these graph parameters
    assert {ds.train[i].num_nodes for i in range(len(ds.train))} == {40}


def test_convert_node_pos_interior_caches_inside_points(tmp_path, tiny_idx):
    from pyg_graphcls.datasets import load_dataset
    assert main(["convert", "--dataset", f"idx:{tiny_idx}", "--ward-merge", "--node-pos", "interior", "--out",
                 str(tmp_path), "--quiet", "--workers", "1"]) == 0
    kw = {**SUPERPIXEL_DEFAULTS, "merge": "ward", "node_pos": "interior"}
    ds = load_dataset(f"idx:{tiny_idx}", "superpixels", kw, root=tmp_path, progress=False, workers=1)
    assert not ds.train.converted
    g = ds.train[0]
    assert torch.equal(g.pos, g.pos.round())     # pixel centres, not centroids


def test_bench_times_what_train_runs(capsys):
    """``graphcls bench`` converts with the train defaults and trains the default model the way the Trainer
    chooses (dense path; bf16 only on a CPU with native bfloat16)."""
    from pyg_graphcls.cli import DEFAULT_MODEL
    from pyg_graphcls.train.trainer import cpu_has_bf16

    assert main(["bench", "--images", "64", "--epochs", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("conversion: ") and "images/s" in out[0]
    assert f"default model {DEFAULT_MODEL}" in out[1] and "dense path" in out[1]
    assert ("bf16 mixed precision" if cpu_has_bf16() else "float32") in out[1]


def test_convert_program_ends_after_flushing_and_leaves_a_loadable_cache(tmp_path, tiny_idx):
    """``python -m pyg_graphcls convert`` ends with os._exit after a finished conversion (no interpreter
    finalization): its output must be complete, its exit code 0 and its caches whole; a failing
    convert still exits through SystemExit with its code."""
    import glob
    import os
    import subprocess
    import sys

    import torch

    r = subprocess.run([sys.executable, "-m", "pyg_graphcls", "convert", "--dataset", f"idx:{tiny_idx}", "--out",
                        str(tmp_path / "c"), "--quiet", "--workers", "1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert "graphs" in lines[0] and sum("cache:" in ln for ln in lines) == 2
    caches = glob.glob(str(tmp_path / "c" / "*" / "*" / "index.pt"))
    assert len(caches) == 2
    for c in caches:
        index = torch.load(c, weights_only=True)
        chunk = torch.load(os.path.join(os.path.dirname(c), "chunk-000000.pt"), weights_only=True)
        assert chunk["arrays"]["x"].size(0) == int(chunk["slices"]["x"][-1]) and index["meta"]["version"]
        assert sum(ch["graphs"] for ch in index["chunks"]) in (32, 8)
    bad = subprocess.run([sys.executable, "-m", "pyg_graphcls", "convert", "--dataset", str(tmp_path / "none"),
                          "--out", str(tmp_path / "d"), "--quiet"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("graphcls: error:")


@pytest.mark.skipif(__import__("importlib.util").util.find_spec("pyg_lib") is not None,
                    reason="pyg-lib is installed: the kNN of every builder runs through PyG")
def test_convert_never_imports_pyg(tmp_path, tiny_idx):
    """``graphcls convert`` (superpixels batched and image by image, grid, patches; IDX data and a folder of
    images of two sizes) runs without importing torch_geometric, whose import took ~2 s of every conversion;
    what it writes is the cache that load_dataset (PyG's InMemoryDataset) then reads."""
    import os
    from pathlib import Path

    import numpy as np
    from PIL import Image

    import pyg_graphcls
    from pyg_graphcls.cli import build_parser, graph_kwargs_from_args
    from pyg_graphcls.datasets import ImageGraphDataset, load_dataset

    folder = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for i in range(6):
        (folder / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        side = (20, 26)[i % 2]  # two sizes: converted image by image
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(folder / f"c{i % 2}" / f"{i}.png")
    out = tmp_path / "c"
    runs = [["--dataset", f"idx:{tiny_idx}"], ["--dataset", f"idx:{tiny_idx}", "--graph", "grid"],
            ["--dataset", f"idx:{tiny_idx}", "--graph", "patches", "--edges", "knn"],
            ["--dataset", f"folder:{folder}", "--n-segments", "10"]]
    script = ("import sys, json\nfrom pyg_graphcls.cli import main\n"
              f"codes = [main(['convert', *argv, '--out', {str(out)!r}, '--quiet', '--workers', '2']) for argv in {runs!r}]\n"
              "print(json.dumps([codes, 'torch_geometric' in sys.modules]))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(pyg_graphcls.__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    codes, imported = json.loads(r.stdout.strip().splitlines()[-1])
    assert codes == [0] * len(runs) and imported is False, r.stdout
    for argv in runs:  # the caches are the ones the PyG data sets read
        args = build_parser().parse_args(["convert", *argv])
        splits = load_dataset(args.dataset, args.graph, graph_kwargs_from_args(args), root=out, workers=1,
                              progress=False, strict=args.dataset.startswith("idx"))
        assert isinstance(splits.train, ImageGraphDataset) and not splits.train.converted and not splits.test.converted
        assert splits.train[0].edge_index.dtype == torch.long
