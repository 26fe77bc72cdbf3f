"""graphcls predict / explain / convert --export on a checkpoint trained here, and the Predictor API."""
import csv
from pathlib import Path
import json

import networkx as nx
import numpy as np
import pytest
import torch
from PIL import Image
from torch_geometric.data import Batch

from pyg_graphcls.cli import SUPERPIXEL_DEFAULTS, main
from pyg_graphcls.datasets import load_dataset, load_images
from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.predict import Predictor, collect_images, pretrained_path
from pyg_graphcls.train import load_model
from pyg_graphcls.viz import from_networkx_graph


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    out = tmp_path_factory.mktemp("run")
    mp = pytest.MonkeyPatch()
    mp.setenv("PYG_GRAPHCLS_HOME", str(home))
    assert main(["train", "--dataset", "sample", "--limit", "300", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    yield out / "checkpoint.pt"
    mp.undo()


@pytest.fixture(scope="module")
def pngs(tmp_path_factory):
    d = tmp_path_factory.mktemp("pngs")
    _, _, tei, tel, _, _ = load_images("sample")
    for i in range(8):
        Image.fromarray(tei[i]).save(d / f"{i}.png")
    return d


def test_checkpoint_records_its_input(run):
    _, ckpt = load_model(run)
    assert ckpt["input"] == {"size": [28, 28], "channels": 1}
    assert ckpt["graph"] == "superpixels"


def test_predict_matches_the_model_on_the_dataset_graphs(run, pngs, tmp_path):
    """PNG files → stored conversion → model equals the model on the cached test graphs of the same images."""
    model, ckpt = load_model(run)
    model.eval()
    splits = load_dataset("sample", ckpt["graph"], ckpt["graph_kwargs"], progress=False)
    with torch.no_grad():
        ref = model(Batch.from_data_list([splits.test[i] for i in range(8)])).softmax(-1)
    out = tmp_path / "p.json"
    assert main(["predict", str(run), str(pngs / "*.png"), "--out", str(out), "--top-k", "2"]) == 0
    recs = {r["image"]: r for r in json.loads(out.read_text())}
    for i in range(8):
        r = recs[str(pngs / f"{i}.png")]
        assert r["index"] == int(ref[i].argmax()) and r["class"] == ckpt["class_names"][r["index"]]
        assert r["probability"] == pytest.approx(float(ref[i].max()), abs=1e-5)
        assert len(r["top_k"]) == 2 and r["top_k"][0]["probability"] >= r["top_k"][1]["probability"]


def test_unreadable_images_are_reported_and_the_rest_predicted(run, pngs, tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    rgb = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(rgb)
    out = tmp_path / "p.csv"
    assert main(["predict", str(run), str(pngs / "0.png"), str(bad), str(rgb), "--out", str(out),
                 "--show", str(tmp_path / "show")]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["image"] for r in rows] == [str(pngs / "0.png"), str(bad), str(rgb)]
    assert rows[1]["error"] and not rows[1]["class"] and rows[2]["class"]  # the photo is grayed and resized
    assert "cannot use" in capsys.readouterr().err
    assert len(list((tmp_path / "show").glob("*.png"))) == 2


def test_predict_errors(run, tmp_path):
    assert main(["predict", str(run)]) == 2
    assert main(["predict", str(tmp_path / "nope.pt"), str(tmp_path)]) == 2
    assert main(["predict", str(run), str(tmp_path / "*.png")]) == 2  # matches nothing
    assert main(["predict", str(run), str(tmp_path), "--top-k", "0"]) == 2
    assert main(["predict", str(run), str(tmp_path), "--out", str(tmp_path / "x.txt")]) == 2
    with pytest.raises(GraphclsError, match="no pretrained model"):
        pretrained_path("imagenet")
    with pytest.raises(GraphclsError, match="one of them"):
        Predictor.load()


def test_collect_images(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("a/2.png", "a/1.jpg", "a/notes.txt", "3.png"):
        (tmp_path / name).write_bytes(b"x")
    got = collect_images([tmp_path / "a", tmp_path / "*.png", tmp_path / "3.png"])
    assert [p.name for p in got] == ["1.jpg", "2.png", "3.png"]


def test_explain_writes_png(run, pngs, tmp_path):
    out = tmp_path / "e.png"
    assert main(["explain", str(run), str(pngs / "0.png"), "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["explain", str(run), str(pngs / "0.png"), str(pngs / "1.png")]) == 2
    assert main(["explain", str(run), str(pngs / "0.png"), "--target", "12"]) == 2


def test_convert_export_graphml_reads_back(tmp_path, monkeypatch):
    monkeypatch.setenv("PYG_GRAPHCLS_HOME", str(tmp_path))
    assert main(["convert", "--dataset", "sample", "--limit", "20", "--quiet", "--export", "graphml"]) == 0
    splits = load_dataset("sample", "superpixels", SUPERPIXEL_DEFAULTS, limit=20, progress=False)
    folder = tmp_path.glob("sample-train/*.graphml")
    folder = next(p for p in folder if p.is_dir())
    files = sorted(folder.glob("*.graphml"))
    assert len(files) == 20
    back = from_networkx_graph(nx.read_graphml(files[3]))
    ref = splits.train[3]
    for key in ("x", "pos", "edge_index", "y"):
        assert torch.equal(back[key], ref[key]), key


def test_pretrained_accuracy_matches_its_model_card(tmp_path):
    """300 unseen Fashion-MNIST test images (the bundled sample's test split) as PNG files through
    graphcls predict --pretrained: accuracy within a few points of the card's test accuracy."""
    import re
    from pyg_graphcls.predict import PRETRAINED
    card = (pretrained_path("fashion-mnist").with_suffix(".md")).read_text()
    claimed = float(re.search(r"Test accuracy\*\*: \*\*([0-9.]+) ±", card).group(1))
    _, _, tei, tel, names, _ = load_images("sample")
    idx = np.random.default_rng(0).permutation(len(tei))[:300]
    for i in idx:
        Image.fromarray(tei[i]).save(tmp_path / f"{i:04d}.png")
    out = tmp_path / "p.json"
    assert main(["predict", "--pretrained", "fashion-mnist", str(tmp_path), "--out", str(out)]) == 0
    recs = json.loads(out.read_text())
    assert len(recs) == 300 and "fashion-mnist" in PRETRAINED
    hits = sum(r["index"] == int(tel[int(Path(r["image"]).stem)]) for r in recs)
    assert abs(100 * hits / 300 - claimed) < 5, (100 * hits / 300, claimed)


def test_evaluate_pretrained(tmp_path, monkeypatch):
    monkeypatch.setenv("PYG_GRAPHCLS_HOME", str(tmp_path / "home"))
    out = tmp_path / "eval.json"
    assert main(["evaluate", "--pretrained", "fashion-mnist", "--dataset", "sample", "--out", str(out),
                 "--quiet"]) == 0
    assert json.loads(out.read_text())["accuracy"] > 0.8  # 1,000 unseen test images of the sample
    assert main(["evaluate", "--pretrained", "imagenet"]) == 2
    assert main(["evaluate"]) == 2
