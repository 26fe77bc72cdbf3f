"""A non-editable install runs from any folder: the sample and the pretrained weights ship inside the package."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--target", str(target), str(REPO)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"pip install failed: {r.stderr[-2000:]}")
    return target


def _run(installed, cwd, *args):
    env = {**os.environ, "PYTHONPATH": str(installed), "PYG_GRAPHCLS_HOME": str(cwd / "home"), "MPLBACKEND": "Agg"}
    env.pop("PYG_GRAPHCLS_SAMPLE_DIR", None)
    return subprocess.run([sys.executable, "-m", "pyg_graphcls", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_main_job_runs_from_another_folder(installed, tmp_path):
    r = _run(installed, tmp_path, "--version")
    assert r.returncode == 0 and r.stdout.startswith("graphcls ")
    r = _run(installed, tmp_path, "train", "--dataset", "sample", "--limit", "200", "--epochs", "1", "--quiet",
             "--out", "run")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "run" / "metrics.json").is_file() and (tmp_path / "run" / "checkpoint.pt").is_file()
    probe = subprocess.run([sys.executable, "-c", "import pyg_graphcls; print(pyg_graphcls.__file__)"], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True, text=True)
    assert probe.stdout.strip().startswith(str(installed))  # the installed copy ran, not the checkout


def test_pretrained_predict_explain_and_export_from_the_install(installed, tmp_path):
    """The shipped checkpoint works offline from the installed package; explain writes its PNG; the GraphML
    export reads back with networkx."""
    import networkx as nx
    from PIL import Image

    from pyg_graphcls.datasets import load_images
    _, _, tei, tel, _, _ = load_images("sample")
    for i in range(5):
        Image.fromarray(tei[i]).save(tmp_path / f"{i}.png")
    r = _run(installed, tmp_path, "predict", "--pretrained", "fashion-mnist", "0.png", "1.png", "2.png", "3.png",
             "4.png", "--out", "p.json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads((tmp_path / "p.json").read_text())) == 5
    r = _run(installed, tmp_path, "explain", "--pretrained", "fashion-mnist", "0.png", "-o", "e.png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"
    r = _run(installed, tmp_path, "convert", "--dataset", "sample", "--limit", "12", "--quiet", "--export", "graphml",
             "--out", "cache")
    assert r.returncode == 0, r.stderr
    files = sorted((tmp_path / "cache").glob("sample-train/*.graphml/*.graphml"))
    assert len(files) == 12
    G = nx.read_graphml(files[0])
    assert G.number_of_nodes() > 0 and "pos_x" in next(iter(G.nodes(data=True)))[1]
